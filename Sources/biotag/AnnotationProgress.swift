import Annotation
import CommandLineSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
