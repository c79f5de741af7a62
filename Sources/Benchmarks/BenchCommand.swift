import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training
import Synchronization
import Tokenization

public struct Bench: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure biotag against reference runtimes on the same sentences, same cores, same run.",
        subcommands: [BenchEncode.self, BenchTasks.self, BenchAnnotate.self, BenchGemm.self])
}

struct BenchEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encoder speed over IOB sentences (default: the 940 NCBI-disease test sentences), per precision.",
        discussion: """
            For each --modes entry, measures batch 1 (each sentence alone: ms per sentence, mean, p50, p99) and batched \
            throughput (length-sorted batches packed without padding: sentences/s), with the size of the weights file and \
            the resident memory the configuration added at its peak. int8 runs the directory `biotag quantize --mode int8` \
            writes (made in a temporary directory unless --model is one). Then bench/reference.py times PyTorch (fp32 and \
            dynamic int8) and ONNX Runtime (fp32 and dynamic int8) on the same sentences, same model, same thread count, and \
            the table gives biotag / reference ratios against the references of the same precision (all of them in --json). \
            Model time only: tokenization is timed separately. --model must be an fp32 model the references can read.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var bench: BenchOptions

    @Option(help: "Reference runtimes to run (comma-separated: torch, torch-int8, onnxruntime, onnxruntime-int8), or 'none'.")
    var reference: String = "torch,torch-int8,onnxruntime,onnxruntime-int8"


    @Flag(help: "Print one JSON object instead of a table: a list of configurations, each with its ratios = biotag ms / reference ms at the same batch size (below 1: biotag is faster).")
    var json = false


    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        let (path, texts) = try bench.texts()
        let (threads, batchSize, repeats) = (bench.threads, bench.batchSize, bench.repeats)

        // Tokenization, timed on its own: one thread, one sentence per call, best of 3 passes.
        var encodings: [Encoding] = []
        var tokenizeSeconds = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            encodings = texts.map { loaded.tokenizer.encode($0) }
            tokenizeSeconds = min(tokenizeSeconds, (ContinuousClock.now - start).seconds)
        }
        let sequences = encodings.map { loaded.tokenizer.truncate($0, maxLength: loaded.config.maxPositions).ids }
        let tokenCount = sequences.reduce(0) { $0 + $1.count }
        printError("\(texts.count) sentences, \(tokenCount) tokens (mean \(String(format: "%.1f", Double(tokenCount) / Double(texts.count)))); tokenizer \(Int(Double(tokenCount) / tokenizeSeconds)) tokens/s")

        let modelName = (loaded.directory as NSString).lastPathComponent
        // One round: every biotag configuration, then the references, so that a ratio compares
        // figures taken minutes apart at most; with --rounds the report gives medians of rounds.
        // The int8 or bf16 copies are written once, for every round.
        var variants: [(precision: ComputePrecision, directory: String)] = []
        defer { for variant in variants where variant.directory != loaded.directory { try? FileManager.default.removeItem(atPath: variant.directory) } }
        for precision in bench.precisions { variants.append((precision, try ModelVariants.directory(of: loaded.directory, for: precision))) }
        func measureRound() throws -> BenchReport {
            var results: [BenchResult] = []
            for (precision, directory) in variants {
                // Each configuration loads the model afresh, so that its memory figure is its own:
                // the model, its runners' packed weights, primitives and scratch, at their peak.
                func load() throws -> MultiTaskModel {
                    do { return try MultiTaskModel(directory: directory, precision: precision) } catch { throw CommandError(error.description) }
                }
                var configurations: [() throws -> BenchResult] = [{
                    let model = try load()
                    return try EncoderBench.latency(model: model, sequences: sequences, threads: threads, repeats: repeats, name: modelName, mode: model.encoder.precision.rawValue)
                }]
                // Throughput: one worker splitting each operation, and independent single-threaded workers.
                for (workers, perWorker) in [(1, threads)] + (threads > 1 ? [(threads, 1)] : []) {
                    configurations.append {
                        let model = try load()
                        return try EncoderBench.throughput(model: model, sequences: sequences, batchSize: batchSize, workers: workers, threads: perWorker,
                                                           repeats: repeats, name: modelName, mode: model.encoder.precision.rawValue)
                    }
                }
                let size = ModelVariants.weightsMiB(directory)
                for configuration in configurations {
                    var (result, memory) = try ProcessMemory.measure(configuration)
                    result.sizeMiB = size
                    result.memoryMiB = memory
                    printError("  \(result.name): \(String(format: "%.3f", result.msPerSentence)) ms/sentence")
                    results.append(result)
                }
            }

            var references: [ReferenceResult] = []
            var referenceTokenizer: Double?
            var referenceInstructionSets: [String]?
            var referenceNote: String?
            if reference != "none" {
                do {
                    let output = try ReferenceRunner.run(script: bench.referenceScript, model: loaded.directory, sentences: path, ids: sequences, limit: bench.limit, threads: threads, batchSizes: [1, batchSize], runtimes: reference)
                    references = output.results
                    referenceTokenizer = output.tokenizer?.tokensPerSecond
                    referenceInstructionSets = output.instructionSets
                } catch {
                    referenceNote = "reference not measured: \(error)"
                    printError(referenceNote!)
                }
            }
            var report = BenchReport(model: modelName, sentences: texts.count, tokens: tokenCount, threads: threads,
                                     tokenizerTokensPerSecond: Double(tokenCount) / tokenizeSeconds, referenceTokenizerTokensPerSecond: referenceTokenizer,
                                     results: results, references: references, note: referenceNote)
            report.referenceInstructionSets = referenceInstructionSets
            return report
        }
        let report = BenchReport(medianOf: try bench.inRounds(measureRound))
        if json { print(report.json()) } else { print(report.table()) }
    }
}

/// What every encoder benchmark takes: the sentences, the cores, the batch, the precisions.
struct BenchOptions: ParsableArguments {
    @Option(help: "IOB file (token<TAB>label lines, blank line between sentences); a sentence is its tokens joined by spaces. Default: the NCBI-disease test split.")
    var sentences: String?

    @Option(help: "Use only the first N sentences.")
    var limit: Int?

    @Option(help: "Cores to use: biotag's batch-1 threads and throughput workers, and the reference runtimes' intra-op threads.")
    var threads: Int = 2

    @Option(help: "Sentences per batch in throughput mode.")
    var batchSize: Int = 32

    @Option(help: "Timed passes over the sentences per configuration; the median pass is reported.")
    var repeats: Int = 3

    @Option(help: ArgumentHelp(
        "Times to measure everything, biotag and then the reference, in turn.",
        discussion: "Figures are the medians over the rounds, and each ratio is the median of the rounds' own ratios (their range is shown): on a shared machine the reference and biotag then meet the same minutes."))
    var rounds: Int = 1

    @Option(help: "Precisions to measure (comma-separated: fp32, int8, bf16; bf16 runs in fp32 where the CPU lacks AVX512-BF16).")
    var modes: String = "fp32,int8"

    @Option(help: "The reference script (installs its own virtualenv on first use).")
    var referenceScript: String = "bench/reference.py"

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        for mode in modes.split(separator: ",") where ComputePrecision(rawValue: String(mode)) == nil {
            throw ValidationError("--modes: unknown precision '\(mode)' (fp32, int8, bf16)")
        }
    }

    /// `measure` run `rounds` times, each round announced on stderr when there are several.
    func inRounds<Round>(_ measure: () throws -> Round) throws -> [Round] {
        try (1...rounds).map { round in
            if rounds > 1 { printError("round \(round) of \(rounds)") }
            return try measure()
        }
    }

    var precisions: [ComputePrecision] { modes.split(separator: ",").compactMap { ComputePrecision(rawValue: String($0)) } }

    /// The file and its sentences (the first --limit of them).
    func texts() throws -> (path: String, texts: [String]) {
        let path = sentences ?? SharedData.path("data/bioner/disease/test.tsv")
        var texts = try IOBReader.sentenceTexts(path: path)
        if let limit { texts = Array(texts.prefix(limit)) }
        guard !texts.isEmpty else { throw CommandError("\(path) has no sentences") }
        return (path, texts)
    }
}

/// `../shared/` (or `$BIOTAG_SHARED`): the corpora and fixtures beside the repository.
enum SharedData {
    static func path(_ relative: String) -> String {
        let base = ProcessInfo.processInfo.environment["BIOTAG_SHARED"] ?? "../shared"
        return (base as NSString).appendingPathComponent(relative)
    }
}
