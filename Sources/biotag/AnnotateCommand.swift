import Annotation
import ArgumentParser
import CommandLineSupport
import Catalog
import Foundation
import Linking
import Models

extension InputFormat: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}

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

    @OptionGroup var input: InputOptions

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write ('-' for stdout; a directory for brat). Default: stdout, or nothing with --store.", valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp(
        "Also keep records, the run and its entities in this catalog, for `biotag search`: a SQLite file (created if missing) or a postgres://user@host/db URL.",
        discussion: "Each batch of records is one transaction: a run stopped at any point resumes where it stopped when started again, and records this model version already annotated (same text) are skipped, so re-running changes nothing. Another model version or other settings add a new run beside the old ones.",
        valueName: "path|url"))
    var store: String?

    @Option(name: .customLong("to"), help: ArgumentHelp("Output format.", valueName: OutputFormat.allCases.map(\.rawValue).joined(separator: "|")))
    var outputFormat: OutputFormat = .jsonl

    @Option(help: ArgumentHelp("Model directory with token-classification heads.", discussion: "Default: models/bioner-minilm-8 in the working directory, then <prefix>/share/biotag/models/bioner-minilm-8 beside a binary installed in <prefix>/bin (make install), then $BIOTAG_HOME/models/bioner-minilm-8."))
    var model: String?

    @Option(help: ArgumentHelp("Comma-separated heads to run (default: all). Fewer heads save only the heads' small cost: the encoder runs once either way.", valueName: "names"))
    var tasks: String?

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var linking: EntityLinkingOptions

    @Option(help: ArgumentHelp("Records read and annotated together.", discussion: "More records give fuller, better-sorted batches; fewer keep memory low and output flowing."))
    var chunk: Int = 512

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("The longest record annotated, in characters (Unicode scalars) over all its fields; a longer one is rejected.", discussion: "A record of many megabytes is almost always a mistake (a whole file in one field); its reject says how long it was."))
    var maxRecordChars = 2_000_000

    @Option(help: ArgumentHelp("Write rejected records (place and reason) as JSON lines to this file.", valueName: "path"))
    var rejects: String?

    @Flag(help: "No progress bar and no summary on stderr.")
    var quiet = false

    @Flag(help: ArgumentHelp("Exit with status 0 even when every record was rejected.", discussion: "Without it a run that annotated nothing because every record was rejected fails (status 1), so that a script notices."))
    var allowEmpty = false

    @Flag(help: ArgumentHelp("--to brat: replace a non-empty output directory whole.", discussion: "Without it a non-empty directory is refused, so that no file of an earlier run is left beside the new ones."))
    var overwrite = false

    func validate() throws {
        guard chunk >= 1 else { throw ValidationError("--chunk must be at least 1, got \(chunk)") }
        guard maxRecordChars >= 1 else { throw ValidationError("--max-record-chars must be at least 1, got \(maxRecordChars)") }
        if let tasks, commaList(tasks).allSatisfy(\.isEmpty) { throw ValidationError("--tasks names no head: give one or more, comma-separated, or leave it out for all") }
        if inputs.filter({ $0 == "-" }).count > 1 { throw ValidationError("stdin ('-') can be read only once") }
        for input in inputs where input != "-" && !FileManager.default.isReadableFile(atPath: input) {
            throw ValidationError("\(input): no such readable file")
        }
        if outputFormat == .brat && (output ?? "-") == "-" { throw ValidationError("--to brat writes a directory: give it with --output DIR") }
        for path in inputs where path != "-" { _ = try input.format(of: path) }
    }

    func run() throws {
        SignalCleanup.install()
        let sources = try (inputs.isEmpty ? ["-"] : inputs).map { path in
            AnnotationInput(path: path, format: try input.format(of: path), textFields: input.fields, idField: input.idField)
        }
        let setup = try AnnotationSetup(model: model, tasks: tasks, pipeline: pipeline, runtime: runtime, linking: linking)
        let annotator = setup.annotator, linker = setup.linker
        defer { annotator.shutdown() }

        var sinks: [any DocumentSink] = []
        var completed: (any CompletedDocuments)?
        do {
            if let store {
                let catalog = try CatalogSink(catalog: try openCatalog(store), annotator: annotator, linkers: linker?.linkers.fingerprint() ?? "")
                sinks.append(catalog)
                completed = catalog
            }
            if let destination = output ?? (store == nil ? "-" : nil) {
                sinks.append(try FormatSink(format: outputFormat, destination: destination, overwrite: overwrite))
            }
            if let rejects { sinks.append(try RejectsFile(path: rejects)) }
        } catch { throw CommandError("\(error)") }

        let job = AnnotationJob(annotator: annotator, sinks: sinks, completed: completed, linking: linker, chunk: chunk)
        job.maxRecordCharacters = maxRecordChars
        let progress = ProgressReporter(enabled: !quiet)
        if progress.live, !sources.contains(where: { $0.path == "-" }) {
            // The ETA needs a total: counted cheaply from the files (stdin has none).
            progress.expected = sources.reduce(0) { $0 + RecordCount.estimate(path: $1.path, format: $1.format) }
        }
        job.onProgress = { progress.update($0) }
        job.onReject = { reject in progress.note("rejected \(reject.id.map { "'\($0)' " } ?? "")at \(reject.location): \(reject.reason)") }
        let summary: AnnotationSummary
        do {
            summary = try job.run(sources)
            progress.finish(summary)
        } catch {
            progress.finish(job.summary)
            throw CommandError(error.description)
        }
        if summary.records == 0, summary.skipped == 0, summary.rejects > 0, !allowEmpty {
            throw CommandError("every record was rejected (\(summary.rejects)): nothing was annotated (--allow-empty accepts that)")
        }
    }
}
