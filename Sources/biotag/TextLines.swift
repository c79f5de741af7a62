import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation

/// The texts of `biotag tokenize` and `biotag encode`: one JSON object with a `"text"` string per
/// line of a file or standard input (`-`). A line that is not one stops the command with its number.
struct TextLines {
    private var reader: ByteLineReader

    init(path: String) throws {
        do { reader = try ByteLineReader(path: path) } catch { throw CommandError(error.description) }
    }

    /// The next line's text, or nil at the end of the input.
    mutating func next() throws -> String? {
        try nextLine().map { try Self.text(of: $0, lineNumber: lineNumber) }
    }

    /// The next line as it is (for commands that read several fields), or nil at the end.
    mutating func nextLine() throws -> String? {
        let line: ByteLineReader.Line?
        do { line = try reader.next() } catch { throw CommandError(error.description) }
        switch line {
        case nil: return nil
        case .invalidUTF8: throw CommandError("line \(lineNumber): invalid UTF-8")
        case let .text(text): return text
        }
    }

    var lineNumber: Int { reader.lineNumber }

    /// Reads the `"text"` of one JSON-lines record.
    static func text(of line: String, lineNumber: Int) throws -> String {
        try string("text", of: try object(of: line, lineNumber: lineNumber), lineNumber: lineNumber)
    }

    /// One JSON-lines record as an object.
    static func object(of line: String, lineNumber: Int) throws -> [String: Any] {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CommandError("line \(lineNumber): empty line (expected a JSON object with a \"text\" string)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) } catch {
            throw CommandError("line \(lineNumber): not valid JSON")
        }
        guard let record = object as? [String: Any] else { throw CommandError("line \(lineNumber): expected a JSON object") }
        return record
    }

    /// A record's string field.
    static func string(_ field: String, of record: [String: Any], lineNumber: Int) throws -> String {
        guard let text = record[field] as? String else { throw CommandError("line \(lineNumber): no \"\(field)\" string field") }
        return text
    }
}

/// How input files are read: their format and, for JSON lines, which fields are passages and which
/// is the id (`annotate` and `enqueue`).
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("format"), help: ArgumentHelp(
        "Input format (default: from the file extension: .txt text, .jsonl/.ndjson jsonl, .xml bioc-xml, .json bioc-json, .pubtator/.pubtator.txt pubtator; stdin: jsonl).",
        valueName: InputFormat.allCases.map(\.rawValue).joined(separator: "|")))
    var inputFormat: InputFormat?

    @Option(help: ArgumentHelp("JSON lines: the fields annotated, each a passage (e.g. title,abstract). Offsets are per field.", valueName: "names"))
    var textFields: String = "text"

    @Option(help: "JSON lines: the field holding the record id.")
    var idField: String = "id"

    var fields: [String] { commaList(textFields) }

    /// The format of a file ('-' for stdin: JSON lines unless --format says otherwise).
    func format(of path: String) throws -> InputFormat {
        if let inputFormat { return inputFormat }
        if path == "-" { return .jsonl }
        guard let format = InputFormat(path: path) else { throw ValidationError("\(path): cannot tell the format from the extension; give --format") }
        return format
    }
}
