import Foundation

/// Reads a byte stream line by line without repairing bad UTF-8 (Swift's `readLine` would
/// silently substitute U+FFFD): each line is validated and its number kept for error messages.
struct LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    private var finished = false
    private(set) var lineNumber = 0

    init(handle: FileHandle) { self.handle = handle }

    struct InvalidLine: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    /// The next line without its terminator, or nil at the end of input.
    mutating func next() throws(InvalidLine) -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var bytes = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if bytes.last == 0x0D { bytes = bytes.dropLast() }
                return try decode(bytes)
            }
            if finished {
                guard !buffer.isEmpty else { return nil }
                let bytes = buffer
                buffer = Data()
                return try decode(bytes)
            }
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { finished = true } else { buffer.append(chunk) }
        }
    }

    private mutating func decode(_ bytes: Data) throws(InvalidLine) -> String {
        lineNumber += 1
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InvalidLine(line: lineNumber, reason: "invalid UTF-8")
        }
        return text
    }
}

/// Reads the `"text"` of one JSON-lines record.
func textField(of line: String, lineNumber: Int, field: String = "text") throws -> String {
    guard !line.trimmingCharacters(in: .whitespaces).isEmpty else {
        throw CommandError("line \(lineNumber): empty line (expected a JSON object with a \"\(field)\" string)")
    }
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) } catch {
        throw CommandError("line \(lineNumber): not valid JSON")
    }
    guard let record = object as? [String: Any] else { throw CommandError("line \(lineNumber): expected a JSON object") }
    guard let text = record[field] as? String else {
        throw CommandError("line \(lineNumber): no \"\(field)\" string field")
    }
    return text
}
