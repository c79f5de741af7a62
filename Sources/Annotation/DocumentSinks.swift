import Foundation
import Models

/// A format writer as a job's sink: JSON lines, BioC, PubTator or BRAT to a file, a directory or
/// standard output (`makeWriter`).
public final class FormatSink: DocumentSink {
    private var writer: any DocumentWriter

    public init(format: OutputFormat, destination: String, overwrite: Bool = false) throws(FormatError) {
        writer = try makeWriter(format: format, destination: destination, overwrite: overwrite)
    }

    public func write(_ documents: [Document], model: ModelIdentity) throws {
        for document in documents { try writer.write(document, model: model) }
    }

    public func finish() throws { try writer.finish() }

    public func abandon() { writer.abandon() }
}

/// Rejected records as JSON lines (`{"id", "location", "reason"}`), one per line. A file is
/// written under a temporary name and moved into place at the end, as every output is; a device
/// or pipe is written directly, and every write is checked (`/dev/full` is an error, not silence).
public final class RejectsFile: DocumentSink {
    public let path: String
    private let output: OutputSink
    private let encoder = JSONEncoder.sorted

    public init(path: String) throws(FormatError) {
        self.path = path
        output = try OutputSink(destination: path)
    }

    public func write(_ documents: [Document], model: ModelIdentity) throws {}

    public func reject(_ reject: Reject) throws {
        let line: Data
        do { line = try encoder.encode(reject) } catch { throw FormatError(file: path, message: "cannot encode a reject: \(error)") }
        try output.write(String(decoding: line, as: UTF8.self) + "\n")
    }

    public func finish() throws { try output.finish() }

    public func abandon() { output.abandon() }
}
