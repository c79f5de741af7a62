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
    /// Drawing a live line: enabled and stderr is a terminal.
    let live: Bool
    /// Records expected in all, for the ETA (0: unknown).
    var expected = 0
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
        let done = summary.records + summary.rejects + summary.skipped
        var eta = ""
        if expected > done, done > 0 {
            eta = ", ETA " + Self.duration(seconds / Double(done) * Double(expected - done))
        }
        let share = expected > 0 ? String(format: " %3.0f%%", min(100, Double(done) * 100 / Double(expected))) : ""
        let line = String(format: "\r%@ %d records (%.1f/s), %d entities (%.1f/s), %d rejected, %@ elapsed%@ \u{1B}[K",
                          share, summary.records, Double(summary.records) / seconds, summary.entityCount, Double(summary.entityCount) / seconds,
                          summary.rejects, Self.duration(seconds), eta)
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

/// How many records an input holds, counted from its bytes without parsing: JSON lines (non-blank
/// lines), PubTator (title or abstract lines of distinct blocks), BioC (document elements or
/// objects), text (one). An estimate for the ETA only.
enum RecordCount {
    static func estimate(path: String, format: InputFormat) -> Int {
        guard format != .text else { return 1 }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return 0 }
        switch format {
        case .text: return 1
        case .jsonl: return lineCounts(data).nonBlank
        case .pubtator: return lineCounts(data).blocks
        case .biocXML: return occurrences(of: "<document>", in: data) + occurrences(of: "<document ", in: data)
        case .biocJSON: return occurrences(of: "\"passages\"", in: data)
        }
    }

    /// Non-blank lines, and runs of them separated by blank lines.
    static func lineCounts(_ data: Data) -> (nonBlank: Int, blocks: Int) {
        var nonBlank = 0, blocks = 0, content = false, inBlock = false
        func endLine() {
            if content { nonBlank += 1; if !inBlock { blocks += 1 } }
            inBlock = content
            content = false
        }
        for byte in data {
            if byte == 0x0A { endLine() } else if byte != 0x20, byte != 0x09, byte != 0x0D { content = true }
        }
        endLine()
        return (nonBlank, blocks)
    }

    static func occurrences(of needle: String, in data: Data) -> Int {
        let pattern = Data(needle.utf8)
        var count = 0, start = data.startIndex
        while let found = data.range(of: pattern, in: start..<data.endIndex) {
            count += 1
            start = found.upperBound
        }
        return count
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
        encoder = .sorted
    }

    mutating func append(_ value: some Encodable) throws {
        do { try handle.write(contentsOf: try encoder.encode(value) + Data("\n".utf8)) } catch { throw CommandError("\(path): cannot write: \(error.localizedDescription)") }
    }

    func close() throws {
        do { try handle.close() } catch { throw CommandError("\(path): cannot close: \(error.localizedDescription)") }
    }
}
