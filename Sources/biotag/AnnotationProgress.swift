import Annotation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Counts of one `biotag annotate` run, for the progress line and the summary.
struct AnnotationSummary {
    var records = 0
    var entities: [String: Int] = [:]
    var rejects = 0
    /// Records the catalog already held for this run (not annotated again).
    var skipped = 0
    var entityCount: Int { entities.values.reduce(0, +) }

    mutating func add(_ document: Document) {
        records += 1
        for passage in document.passages { for entity in passage.entities { entities[entity.type, default: 0] += 1 } }
    }
}

/// A progress line on stderr while it is a terminal (quiet when piped), and a summary at the end.
final class ProgressReporter {
    private let enabled: Bool
    private let live: Bool
    private let started = Date()
    private var lastDraw = Date.distantPast

    init(enabled: Bool) {
        self.enabled = enabled
        live = enabled && isatty(STDERR_FILENO) != 0
    }

    func update(_ summary: AnnotationSummary) {
        guard live, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let seconds = max(Date().timeIntervalSince(started), 1e-3)
        let line = String(format: "\r%d records (%.1f/s), %d entities (%.1f/s), %d rejected, %@ elapsed ",
                          summary.records, Double(summary.records) / seconds, summary.entityCount, Double(summary.entityCount) / seconds,
                          summary.rejects, Self.duration(seconds))
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// A message on its own line (the progress line is redrawn after it).
    func note(_ message: String) {
        guard enabled else { return }
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        printError(message)
        lastDraw = .distantPast
    }

    func finish(_ summary: AnnotationSummary) {
        guard enabled else { return }
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let seconds = Date().timeIntervalSince(started)
        let types = summary.entities.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        printError(String(format: "%d records, %d entities%@, %d rejected%@, in %@ (%.1f records/s)", summary.records, summary.entityCount,
                          types.isEmpty ? "" : " (\(types))", summary.rejects, summary.skipped > 0 ? ", \(summary.skipped) already in the catalog" : "",
                          Self.duration(seconds), Double(summary.records) / max(seconds, 1e-3)))
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1fs", seconds) : String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}

extension JSONEncoder {
    /// Sorted keys, slashes unescaped: stable text for settings and JSON output.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// A JSON-lines file written one record at a time.
struct JSONLinesFile {
    private let handle: FileHandle
    private let encoder: JSONEncoder
    let path: String

    init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandError("\(path): cannot create the file")
        }
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    mutating func append(_ value: some Encodable) throws {
        do { try handle.write(contentsOf: try encoder.encode(value) + Data("\n".utf8)) } catch { throw CommandError("\(path): cannot write: \(error.localizedDescription)") }
    }

    func close() throws {
        do { try handle.close() } catch { throw CommandError("\(path): cannot close: \(error.localizedDescription)") }
    }
}
