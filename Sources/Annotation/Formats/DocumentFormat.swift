import Foundation

/// The formats `biotag annotate` reads. Offsets read from any of them become Unicode scalar
/// indices (see each reader for the unit it assumes in the file).
public enum InputFormat: String, CaseIterable, Sendable {
    /// A whole file is one document of one passage.
    case text
    /// One JSON object per line: an id field and one or more text fields.
    case jsonl
    case biocXML = "bioc-xml"
    case biocJSON = "bioc-json"
    /// `PMID|t|title`, `PMID|a|abstract` and tab-separated annotation lines, blocks separated by
    /// blank lines.
    case pubtator

    /// The format a file's name says: `.txt` text, `.jsonl`/`.ndjson` JSON lines, `.xml` BioC
    /// XML, `.json` BioC JSON, `.pubtator`/`.pubtator.txt` PubTator; nil when it says none.
    public init?(path: String) {
        let lower = path.lowercased()
        if lower.hasSuffix(".pubtator") || lower.hasSuffix(".pubtator.txt") { self = .pubtator; return }
        switch (lower as NSString).pathExtension {
        case "txt", "text": self = .text
        case "jsonl", "ndjson": self = .jsonl
        case "xml": self = .biocXML
        case "json": self = .biocJSON
        default: return nil
        }
    }
}

/// The formats annotations are written in.
public enum OutputFormat: String, CaseIterable, Sendable {
    case jsonl
    case biocXML = "bioc-xml"
    case biocJSON = "bioc-json"
    case pubtator
    /// A directory of `<id>.txt` + `<id>.ann` pairs (brat standoff).
    case brat
}

/// One item read from input: a document, or a record that cannot be annotated (kept as a reject
/// while the rest of the input goes on).
public enum ReadItem: Sendable, Equatable {
    case document(Document)
    case rejected(Reject)
}

/// A record of the input that was skipped, and why.
public struct Reject: Sendable, Equatable, Codable {
    /// The record's id when it could be read.
    public var id: String?
    /// `file:line` (1-based line of the record) for line-oriented formats, `file` otherwise.
    public var location: String
    public var reason: String

    public init(id: String? = nil, location: String, reason: String) {
        self.id = id
        self.location = location
        self.reason = reason
    }
}

/// An input or output that cannot be processed at all (unreadable file, malformed XML, a failed
/// write). Records that are merely bad become `Reject`s instead.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// 1-based line, when known.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, or `file: message` without a line.
    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

/// A reader over one input, yielding documents (and rejects) in input order.
public protocol DocumentReader {
    /// The next document or reject, or nil at the end of the input.
    mutating func next() throws(FormatError) -> ReadItem?
}

/// A writer to one destination. Documents are written as they come; `finish()` completes the
/// output (closes the BioC collection, renames the temporary file or folder into place) and must
/// be called once at the end. `abandon()` gives the output up after a failure: a file or folder
/// destination is left as it was, all or nothing.
public protocol DocumentWriter {
    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError)
    mutating func finish() throws(FormatError)
    mutating func abandon()
}

/// Opens a reader.
/// - Parameters:
///   - path: the input file, or `-` for standard input (named `stdin` in ids and locations).
///   - textFields: JSONL only: the string fields that become passages, in this order.
///   - idField: JSONL only: the field holding the document id (a string or a number).
public func makeReader(
    format: InputFormat, path: String, textFields: [String] = ["text"], idField: String = "id"
) throws(FormatError) -> any DocumentReader {
    switch format {
    case .text: return try PlainTextReader(path: path)
    case .jsonl: return try JSONLinesReader(path: path, textFields: textFields, idField: idField)
    case .biocXML: return try BioCXMLReader(path: path)
    case .biocJSON: return try BioCJSONReader(path: path)
    case .pubtator: return try PubTatorReader(path: path)
    }
}

/// Opens a writer.
/// - Parameters:
///   - destination: a file path or `-` for standard output; for `brat` a directory (created if
///     missing, empty if it exists) that receives `<id>.txt` and `<id>.ann` per document.
///   - overwrite: brat only: replace a non-empty destination folder (refused otherwise).
public func makeWriter(format: OutputFormat, destination: String, overwrite: Bool = false) throws(FormatError) -> any DocumentWriter {
    switch format {
    case .jsonl: return JSONLinesWriter(output: try OutputSink(destination: destination))
    case .biocXML: return BioCXMLWriter(output: try OutputSink(destination: destination))
    case .biocJSON: return BioCJSONWriter(output: try OutputSink(destination: destination))
    case .pubtator: return PubTatorWriter(output: try OutputSink(destination: destination))
    case .brat: return try BratWriter(directory: destination, overwrite: overwrite)
    }
}

/// Reads a BioC XML or BioC JSON collection held in memory (a request's body); `name` locates
/// its errors. Other formats are read from files (`makeReader`).
public func readDocuments(_ data: Data, format: InputFormat, name: String) throws(FormatError) -> [ReadItem] {
    var reader: any DocumentReader
    switch format {
    case .biocXML: reader = try BioCXMLReader(data: data, name: name)
    case .biocJSON: reader = try BioCJSONReader(data: data, name: name)
    case .text, .jsonl, .pubtator: throw FormatError(file: name, message: "\(format.rawValue) is read from files only")
    }
    var items: [ReadItem] = []
    while let item = try reader.next() { items.append(item) }
    return items
}

/// Writes documents as one output in memory (BioC XML or JSON, JSON lines, PubTator), exactly as
/// `makeWriter` writes them to a file.
public func writeDocuments(_ documents: [Document], format: OutputFormat, model: ModelIdentity) throws(FormatError) -> [UInt8] {
    let sink = OutputSink(memory: "answer")
    var writer: any DocumentWriter
    switch format {
    case .jsonl: writer = JSONLinesWriter(output: sink)
    case .biocXML: writer = BioCXMLWriter(output: sink)
    case .biocJSON: writer = BioCJSONWriter(output: sink)
    case .pubtator: writer = PubTatorWriter(output: sink)
    case .brat: throw FormatError(file: "answer", message: "brat writes a directory of files, not one output")
    }
    for document in documents { try writer.write(document, model: model) }
    try writer.finish()
    return sink.contents
}

/// The name used for `-` in ids and locations.
let standardStreamName = "stdin"

/// `path` as it appears in locations and errors.
func displayName(of path: String) -> String { path == "-" ? standardStreamName : path }
