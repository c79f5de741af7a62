import Foundation

/// Any JSON value, decoded without loss of the integer / fraction / boolean distinction (which
/// `JSONSerialization`'s `NSNumber` blurs). Used for headers that must be validated by hand.
public enum JSONValue: Decodable, Equatable, Sendable {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public var intValue: Int? { if case let .int(value) = self { value } else { nil } }
    public var stringValue: String? { if case let .string(value) = self { value } else { nil } }
    public var arrayValue: [JSONValue]? { if case let .array(value) = self { value } else { nil } }
    public var objectValue: [String: JSONValue]? { if case let .object(value) = self { value } else { nil } }
}

extension JSONEncoder {
    /// Sorted keys, slashes unescaped: stable text for settings, reports and JSON output.
    public static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
