import Tokenization

/// Hand-written JSON output for the streaming writers: strings escaped per RFC 8259 with
/// non-ASCII kept as UTF-8 (U+2028 and U+2029 escaped for JavaScript readers).
public enum JSONText {
    public static func string(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// `{"key":"value",...}` with keys sorted, so output is reproducible.
    static func object(_ dictionary: [String: String]) -> String {
        "{" + dictionary.sorted { $0.key < $1.key }.map { string($0.key) + ":" + string($0.value) }.joined(separator: ",") + "}"
    }

    /// A score as a JSON number rounded to 4 decimals (`null` if not finite).
    static func score(_ value: Double) -> String {
        value.isFinite ? roundedScore(value) : "null"
    }
}

/// A score rounded to 4 decimals in its shortest form: `0.9877`, `1.0`.
func roundedScore(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    return "\((value * 10_000).rounded() / 10_000)"
}

extension JSONText {
    /// `{"input_ids": [...], "offsets": [[start, end], ...], "tokens": [...]}`: a tokenization as
    /// `biotag tokenize` and `POST /v1/tokenize` give it (offsets in Unicode scalars).
    public static func object(of encoding: Encoding) -> String {
        "{\"input_ids\":[" + encoding.ids.map(String.init).joined(separator: ",")
            + "],\"offsets\":[" + encoding.offsets.map { "[\($0.lowerBound),\($0.upperBound)]" }.joined(separator: ",")
            + "],\"tokens\":[" + encoding.tokens.map(string).joined(separator: ",") + "]}"
    }
}
