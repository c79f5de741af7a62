import Foundation
import Models

/// A format writer as a job's sink: JSON lines, BioC, PubTator or BRAT to a file, a directory or
/// standard output (`makeWriter`).
public final class FormatSink: DocumentSink {
    private var writer: any DocumentWriter

    public init(format: OutputFormat, destination: String) throws(FormatError) {
        writer = try makeWriter(format: format, destination: destination)
    }

    public func write(_ documents: [Document], model: ModelIdentity) throws {
        for document in documents { try writer.write(document, model: model) }
    }

    public func finish() throws { try writer.finish() }
}

/// Rejected records as JSON lines (`{"id", "location", "reason"}`), one per line, as they come.
public final class RejectsFile: DocumentSink {
    public let path: String
    private let handle: FileHandle
    private let encoder = JSONEncoder.sorted
    private var closed = false

    public init(path: String) throws(FormatError) {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw FormatError(file: path, message: "cannot create the file")
        }
        self.handle = handle
    }

    public func write(_ documents: [Document], model: ModelIdentity) throws {}

    public func reject(_ reject: Reject) throws {
        do { try handle.write(contentsOf: try encoder.encode(reject) + Data("\n".utf8)) } catch {
            throw FormatError(file: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    public func finish() throws {
        guard !closed else { return }
        closed = true
        do { try handle.close() } catch { throw FormatError(file: path, message: "cannot close: \(error.localizedDescription)") }
    }
}
