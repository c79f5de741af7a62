import Foundation

/// BERT's text normalization, reproducing Hugging Face `tokenizers`' `BertNormalizer`:
/// clean text (drop NUL, U+FFFD and control/format characters; any whitespace becomes a space),
/// surround CJK ideographs with spaces, strip accents (NFD, then drop nonspacing marks), lowercase
/// — in that order. Every output scalar remembers which input scalar it came from, so offsets
/// survive normalization.
public struct BertNormalizer: Sendable, Equatable {
    public var cleanText = true
    public var handleChineseChars = true
    public var stripAccents = true
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool = true, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// Appends the normalization of `scalars[range]` to `output`, with the index of the source
    /// scalar of each output scalar in `alignment`.
    func normalize(_ scalars: [Unicode.Scalar], range: Range<Int>, output: inout [UInt32], alignment: inout [Int32]) {
        for index in range {
            let scalar = scalars[index]
            let value = scalar.value
            let source = Int32(index)
            if value < 0x80 {
                // ASCII: controls other than tab/newline/CR are dropped, whitespace is a space.
                if cleanText {
                    if value == 0x09 || value == 0x0A || value == 0x0D || value == 0x20 {
                        output.append(0x20); alignment.append(source); continue
                    }
                    if value < 0x20 || value == 0x7F { continue }
                }
                let lowered = lowercase && value >= 0x41 && value <= 0x5A ? value + 32 : value
                output.append(lowered); alignment.append(source)
                continue
            }
            if cleanText {
                if value == 0xFFFD || Self.isControl(scalar) { continue }
                if scalar.properties.isWhitespace { output.append(0x20); alignment.append(source); continue }
            }
            let isolated = handleChineseChars && Self.isChineseCharacter(value)
            if isolated { output.append(0x20); alignment.append(source) }
            if stripAccents {
                for decomposed in Self.canonicalDecomposition(scalar) where decomposed.properties.generalCategory != .nonspacingMark {
                    appendLowercased(decomposed, source: source, output: &output, alignment: &alignment)
                }
            } else {
                appendLowercased(scalar, source: source, output: &output, alignment: &alignment)
            }
            if isolated { output.append(0x20); alignment.append(source) }
        }
    }

    private func appendLowercased(_ scalar: Unicode.Scalar, source: Int32, output: inout [UInt32], alignment: inout [Int32]) {
        guard lowercase, scalar.properties.changesWhenLowercased else {
            output.append(scalar.value); alignment.append(source)
            return
        }
        for lowered in scalar.properties.lowercaseMapping.unicodeScalars {
            output.append(lowered.value); alignment.append(source)
        }
    }

    /// Control and format characters (Unicode categories C*), except tab, newline and CR.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks that BERT treats as one word each.
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
            || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
            || (0x2B740...0x2B81F).contains(value) || (0x2B820...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }

    static func canonicalDecomposition(_ scalar: Unicode.Scalar) -> String.UnicodeScalarView {
        String(Character(scalar)).decomposedStringWithCanonicalMapping.unicodeScalars
    }
}
