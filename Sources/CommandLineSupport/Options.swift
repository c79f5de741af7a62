import Annotation
import ArgumentParser
import Foundation
import Models

public struct ModelOptions: ParsableArguments {
    public init() {}

    @Option(name: .long, help: ArgumentHelp(
        "Model directory (Hugging Face layout: config.json, model.safetensors, vocab.txt or tokenizer.json, optional tasks.json).",
        discussion: "Defaults to all-MiniLM-L6-v2 as fetched by `biotag fetch-model minilm`. `fast` is the shipped pruned model (bioner-minilm-8-fast)."))
    public var model: String?

    public var directory: String {
        guard let model else { return ModelLocations.fetched("all-MiniLM-L6-v2") }
        return ModelLocations.resolve(model) ?? ModelLocations.candidates(of: ModelLocations.shortcuts[model] ?? model)[0]
    }
}

/// The cores an inference command uses: independent workers × threads per worker. Each command
/// has its own defaults (`resolved`): the annotation pipeline favours workers, one batch at a time
/// favours threads.
public struct RuntimeOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp(
        "Threads that split each operation of one forward pass, per worker.",
        discussion: "More threads lower the latency of one batch; on a machine with few cores, independent --workers usually give more throughput. Threads spin between operations instead of sleeping, because waking a sleeping vCPU costs milliseconds here. Default: 1 for annotate and eval, 2 for encode and bench annotate."))
    public var threads: Int?

    @Option(help: ArgumentHelp(
        "Independent inference workers, each with --threads threads, working on different batches.",
        discussion: "Workers × threads should not exceed the cores available; each worker holds its own activations. Default: 2 for annotate and eval, 1 for encode and bench annotate."))
    public var workers: Int?

    public func validate() throws {
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let workers, !(1...256).contains(workers) { throw ValidationError("--workers must be between 1 and 256, got \(workers)") }
    }

    /// The values given, or this command's defaults.
    public func resolved(threads defaultThreads: Int, workers defaultWorkers: Int) -> (threads: Int, workers: Int) {
        (threads ?? defaultThreads, workers ?? defaultWorkers)
    }
}

extension Decoding: ExpressibleByArgument {}
extension AggregationStrategy: ExpressibleByArgument {}

/// How the annotation pipeline reads a model's outputs: the same flags, with the same meaning, for
/// `biotag annotate`, `biotag eval` and `biotag bench annotate`, so that eval scores what annotate
/// writes.
public struct PipelineOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp(
        "How wordpiece predictions become word predictions.",
        discussion: "first (the default) matches how the models are trained; average and max pool a word's wordpieces; simple labels wordpieces alone, so an entity can end inside a word."))
    public var aggregation: AggregationStrategy = .first

    @Option(help: ArgumentHelp(
        "How word labels are read: viterbi (the best valid IOB2 sequence per sentence; the default, better on the devel split of six heads of eight, docs/RESULTS.md) or argmax (each word's best label, read as seqeval's default mode reads IOB2).",
        valueName: "argmax|viterbi"))
    public var decoding: Decoding = .viterbi

    @Flag(help: .hidden)
    public var viterbi = false

    @Option(help: ArgumentHelp("Longest piece in wordpieces; longer sentences are cut into overlapping windows.", discussion: "The models are trained on 128. Longer pieces give more context and cost quadratically more in attention."))
    public var maxLength: Int = 128

    @Option(help: ArgumentHelp("Wordpieces shared by consecutive windows.", discussion: "Each wordpiece takes the prediction of the window where it has the most context; more overlap costs more passes."))
    public var stride: Int = 32

    @Option(help: ArgumentHelp("Most wordpieces in one forward pass.", discussion: "Bigger batches use the cores better and hold more memory; pieces of many records are sorted by length and packed without padding."))
    public var tokenBudget: Int = 8192

    @Flag(help: ArgumentHelp("Report every head's decoded spans as they are: no edge repair, no rule between heads that found the same words.",
                             discussion: "By default an edge on punctuation that joins a word is moved to the whitespace (\"-PLL\" → \"T-PLL\"), a stray bracket or comma at an edge is dropped, a function word alone is no entity, and where heads overlap one span gives one answer (disease over anatomy; a cell and a cell type as one entity with both types; see docs/RESULTS.md)."))
    public var raw = false

    @Option(help: ArgumentHelp("Where the disease and anatomy heads found the same span, anatomy wins only when its score is higher by this much.",
                               discussion: "AnatEM, the anatomy head's corpus, counts tumours as anatomy; to a curator they are diseases. 0 lets the surer head win; above 1, disease always wins."))
    public var overlapMargin: Double = OverlapPolicy.defaultMargin

    /// The settings for these heads (nil: all).
    public func settings(tasks: [String]?) -> AnnotationSettings {
        var settings = AnnotationSettings()
        settings.tasks = tasks
        settings.aggregation = aggregation
        settings.decoding = viterbi ? .viterbi : decoding
        settings.maxLength = maxLength
        settings.stride = stride
        settings.tokenBudget = tokenBudget
        settings.raw = raw
        settings.overlaps = OverlapPolicy(margin: overlapMargin)
        return settings
    }
}

/// `a, b,c` → `["a", "b", "c"]`: a comma-separated list option.
public func commaList(_ value: String) -> [String] {
    value.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
}

/// `KEY=VALUE`, an option's argument split at its first `=`; both sides must be there.
/// - Parameters:
///   - form: what the option expects, e.g. `TASK=FILE`, and `example` an instance of it.
public func keyValue(_ text: String, option: String, form: String, example: String) throws(ValidationError) -> (key: String, value: String) {
    let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("\(option) \(text): expected \(form), e.g. \(example)") }
    return (parts[0], parts[1])
}

/// Writes to stderr (progress and diagnostics; stdout carries data).
public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A plain message error for the command line.
public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `source: 90.6 MiB → destination: 32.0 MiB (what was done)` on stderr.
public func printSizes(_ sizes: ModelRewrite.Sizes, summary: String) {
    printError(String(format: "%@: %.1f MiB → %@: %.1f MiB (%@)", sizes.source, Double(sizes.before) / 1_048_576, sizes.destination,
                      Double(sizes.after) / 1_048_576, summary))
}

/// The default model, or a sentence saying where it was looked for.
public func defaultModelDirectory() throws -> String {
    guard let found = ModelLocations.defaultModel() else {
        throw CommandError("no default model (looked in \(ModelLocations.defaultModelCandidates.joined(separator: ", "))): give one with --model DIR, or run `make install`")
    }
    return found
}

/// The directory of a `--model` value: nil is the default model, a shortcut (`fast`) its shipped
/// model, anything else a directory; a shortcut not installed is an error that says where it
/// was looked for.
public func modelDirectory(_ value: String?) throws -> String {
    guard let value else { return try defaultModelDirectory() }
    guard let directory = ModelLocations.resolve(value) else {
        let name = ModelLocations.shortcuts[value] ?? value
        throw CommandError("--model \(value): no \(name) (looked in \(ModelLocations.candidates(of: name).joined(separator: ", "))): run `make fast-model` or `make install`")
    }
    return directory
}

extension String {
    /// The string right-aligned in `width` characters (never cut).
    public func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// On SIGINT, SIGTERM or SIGHUP a command that writes outputs removes its temporary files and
/// folders (`TemporaryOutputs`) before it exits with 128 + the signal's number, so that a stopped
/// run leaves every output as it was. (SIGKILL cannot be caught: the next run cleans up.)
public enum SignalCleanup {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    public static func install() {
        guard sources.isEmpty else { return }
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                TemporaryOutputs.removeAll()
                _exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }
}
