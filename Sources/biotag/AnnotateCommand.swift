import Annotation
import ArgumentParser
import Catalog
import Foundation
import Models

extension InputFormat: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}
extension AggregationStrategy: ExpressibleByArgument {}

struct Annotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find every entity of every type in records, with exact character offsets, in the format the next tool reads.",
        discussion: """
            Reads plain text (one document per file), JSON lines, BioC XML or JSON, or PubTator; writes JSON lines, BioC XML or \
            JSON, PubTator or BRAT standoff. Offsets count Unicode scalars (code points), as Python and the Hugging Face \
            tokenizers do: text[start:end] is the entity's text. Records that cannot be annotated (invalid UTF-8, no text, a \
            malformed line) are reported with their place and skipped; the rest go on.
            """)

    @Argument(help: ArgumentHelp("Input files; none or '-' reads stdin.", valueName: "file"))
    var inputs: [String] = []

    @Option(name: .customLong("format"), help: ArgumentHelp(
        "Input format (default: from the file extension: .txt text, .jsonl/.ndjson jsonl, .xml bioc-xml, .json bioc-json, .pubtator/.pubtator.txt pubtator; stdin: jsonl).",
        valueName: InputFormat.allCases.map(\.rawValue).joined(separator: "|")))
    var inputFormat: InputFormat?

    @Option(help: ArgumentHelp("JSON lines: the fields annotated, each a passage (e.g. title,abstract). Offsets are per field.", valueName: "names"))
    var textFields: String = "text"

    @Option(help: "JSON lines: the field holding the record id.")
    var idField: String = "id"

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write ('-' for stdout; a directory for brat). Default: stdout, or nothing with --store.", valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp(
        "Also keep records, the run and its entities in this SQLite catalog (created if missing), for `biotag search`.",
        discussion: "Each batch of records is one transaction: a run stopped at any point resumes where it stopped when started again, and records this model version already annotated (same text) are skipped, so re-running changes nothing. Another model version or other settings add a new run beside the old ones.",
        valueName: "path"))
    var store: String?

    @Option(name: .customLong("to"), help: ArgumentHelp("Output format.", valueName: OutputFormat.allCases.map(\.rawValue).joined(separator: "|")))
    var outputFormat: OutputFormat = .jsonl

    @Option(help: ArgumentHelp("Model directory with token-classification heads.", discussion: "Default: models/bioner-minilm-8 in the working directory, else $BIOTAG_HOME/models/bioner-minilm-8."))
    var model: String?

    @Option(help: ArgumentHelp("Comma-separated heads to run (default: all). Fewer heads save only the heads' small cost: the encoder runs once either way.", valueName: "names"))
    var tasks: String?

    @Option(help: ArgumentHelp(
        "How wordpiece predictions become word predictions.",
        discussion: "first (the default) matches how the models are trained; average and max pool a word's wordpieces; simple labels wordpieces alone, so an entity can end inside a word."))
    var aggregation: AggregationStrategy = .first

    @Flag(help: "Constrained Viterbi decoding: the best valid IOB2 label sequence per sentence instead of each word's best label (slower; see docs/RESULTS.md for whether it helps).")
    var viterbi = false

    @Option(help: ArgumentHelp("Longest piece in wordpieces; longer sentences are cut into overlapping windows.", discussion: "The models are trained on 128. Longer pieces give more context and cost quadratically more in attention."))
    var maxLength: Int = 128

    @Option(help: ArgumentHelp("Wordpieces shared by consecutive windows.", discussion: "Each wordpiece takes the prediction of the window where it has the most context; more overlap costs more passes."))
    var stride: Int = 32

    @Option(help: ArgumentHelp("Most wordpieces in one forward pass.", discussion: "Bigger batches use the cores better and hold more memory; pieces of many records are sorted by length and packed without padding."))
    var tokenBudget: Int = 8192

    @Option(help: ArgumentHelp("Records read and annotated together.", discussion: "More records give fuller, better-sorted batches; fewer keep memory low and output flowing."))
    var chunk: Int = 512

    @Option(help: ArgumentHelp("Threads splitting each operation of a forward pass, per worker.", discussion: "More threads lower the latency of one batch; for throughput on few cores, --workers usually does better."))
    var threads: Int = 1

    @Option(help: ArgumentHelp("Forward passes run at once on different batches, each with --threads threads.", discussion: "Workers × threads should not exceed the cores. Each worker holds its own activations."))
    var workers: Int = 2

    @Option(help: ArgumentHelp("Write rejected records (place and reason) as JSON lines to this file.", valueName: "path"))
    var rejects: String?

    @Flag(help: "No progress bar and no summary on stderr.")
    var quiet = false

    func validate() throws {
        guard chunk >= 1 else { throw ValidationError("--chunk must be at least 1, got \(chunk)") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be between 1 and 256, got \(workers)") }
        if inputs.filter({ $0 == "-" }).count > 1 { throw ValidationError("stdin ('-') can be read only once") }
        for input in inputs where input != "-" && !FileManager.default.isReadableFile(atPath: input) {
            throw ValidationError("\(input): no such readable file")
        }
        if outputFormat == .brat && (output ?? "-") == "-" { throw ValidationError("--to brat writes a directory: give it with --output DIR") }
        if inputFormat == nil { for input in inputs where input != "-" && Self.format(of: input) == nil {
            throw ValidationError("\(input): cannot tell the format from the extension; give --format")
        } }
    }

    static func format(of path: String) -> InputFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".pubtator") || lower.hasSuffix(".pubtator.txt") { return .pubtator }
        switch (lower as NSString).pathExtension {
        case "txt", "text": return .text
        case "jsonl", "ndjson": return .jsonl
        case "xml": return .biocXML
        case "json": return .biocJSON
        default: return nil
        }
    }

    /// The default model: in the working directory, then in $BIOTAG_HOME.
    static func defaultModel() throws -> String {
        let candidates = ["models/bioner-minilm-8", BiotagHome.model("bioner-minilm-8")]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("tasks.json")) }) else {
            throw CommandError("no default model (looked in \(candidates.joined(separator: " and "))): give one with --model DIR")
        }
        return found
    }

    func run() throws {
        var settings = AnnotationSettings()
        settings.tasks = tasks?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        settings.aggregation = aggregation
        settings.viterbi = viterbi
        settings.maxLength = maxLength
        settings.stride = stride
        settings.tokenBudget = tokenBudget
        let directory = try model ?? Self.defaultModel()
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: directory) } catch { throw CommandError(error.description) }
        let annotator: Annotator
        do { annotator = try Annotator(model: loaded, settings: settings, threads: threads, workers: workers) } catch { throw CommandError(error.description) }
        defer { annotator.shutdown() }

        let catalog: SQLiteCatalog?
        let run: Int64?
        do {
            catalog = try store.map { path throws(CatalogError) in try SQLiteCatalog(path: path) }
            let settingsJSON = String(decoding: try JSONEncoder.sorted.encode(settings), as: UTF8.self)
            run = try catalog?.run(model: annotator.identity, tasks: annotator.tasks, settings: settingsJSON)
        } catch { throw CommandError("\(error)") }
        var writer: (any DocumentWriter)?
        if let destination = output ?? (store == nil ? "-" : nil) {
            do { writer = try makeWriter(format: outputFormat, destination: destination) } catch { throw CommandError(error.description) }
        }
        var rejectLog = try rejects.map { path throws in try JSONLinesFile(path: path) }
        let progress = ProgressReporter(enabled: !quiet)
        if progress.live {
            // The ETA needs a total: counted cheaply from the files (stdin has none).
            let sources = inputs.isEmpty ? ["-"] : inputs
            if !sources.contains("-") {
                progress.expected = sources.reduce(0) { $0 + RecordCount.estimate(path: $1, format: inputFormat ?? Self.format(of: $1)!) }
            }
        }
        var summary = AnnotationSummary()
        let fields = textFields.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }

        func flush(_ pending: inout [Document]) throws {
            guard !pending.isEmpty else { return }
            if let catalog, let run {
                // Records this run already holds with the same text are done: skip them.
                let needed: [Bool]
                do { needed = try catalog.needsAnnotation(pending, run: run) } catch { throw CommandError(error.description) }
                summary.skipped += needed.filter { !$0 }.count
                pending = zip(pending, needed).filter(\.1).map(\.0)
            }
            let annotated: [Document]
            do { annotated = try annotator.annotate(pending) } catch { throw CommandError(error.description) }
            if let catalog, let run {
                do { try catalog.store(annotated, run: run) } catch { throw CommandError(error.description) }
            }
            for document in annotated {
                do { try writer?.write(document, model: annotator.identity) } catch { throw CommandError(error.description) }
                summary.add(document)
            }
            pending.removeAll(keepingCapacity: true)
            progress.update(summary)
        }

        var pending: [Document] = []
        do {
            for input in inputs.isEmpty ? ["-"] : inputs {
                let format = inputFormat ?? (input == "-" ? .jsonl : Self.format(of: input)!)
                var reader: any DocumentReader
                do { reader = try makeReader(format: format, path: input, textFields: fields, idField: idField) } catch { throw CommandError(error.description) }
                while true {
                    let item: ReadItem?
                    do { item = try reader.next() } catch { throw CommandError(error.description) }
                    guard let item else { break }
                    switch item {
                    case let .document(document):
                        pending.append(document)
                        if pending.count >= chunk { try flush(&pending) }
                    case let .rejected(reject):
                        summary.rejects += 1
                        progress.note("rejected \(reject.id.map { "'\($0)' " } ?? "")at \(reject.location): \(reject.reason)")
                        try rejectLog?.append(reject)
                        if let catalog, let run {
                            do { try catalog.reject(reject, run: run) } catch { throw CommandError(error.description) }
                        }
                    }
                }
            }
            try flush(&pending)
        } catch {
            // Keep what was annotated before the failure: finish the output, then report.
            try? flush(&pending)
            try? writer?.finish()
            try? rejectLog?.close()
            progress.finish(summary)
            throw error
        }
        do { try writer?.finish() } catch { throw CommandError(error.description) }
        try rejectLog?.close()
        progress.finish(summary)
    }
}
