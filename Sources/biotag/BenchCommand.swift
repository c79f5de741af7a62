import ArgumentParser
import Foundation
import Models
import Synchronization
import Tokenization

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure biotag against reference runtimes on the same sentences, same cores, same run.",
        subcommands: [BenchEncode.self, BenchAnnotate.self, BenchGemm.self])
}

struct BenchEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encoder speed over IOB sentences (default: the 940 NCBI-disease test sentences), fp32.",
        discussion: """
            Measures batch 1 (each sentence alone: ms per sentence, mean, p50, p99) and batched throughput \
            (length-sorted batches packed without padding: sentences/s), then runs bench/reference.py (PyTorch and \
            ONNX Runtime, same sentences, same model, same thread count) and prints biotag / reference ratios. \
            Model time only: tokenization is timed separately.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "IOB file (token<TAB>label lines, blank line between sentences); a sentence is its tokens joined by spaces.")
    var sentences: String?

    @Option(help: "Use only the first N sentences.")
    var limit: Int?

    @Option(help: "Cores to use: biotag's batch-1 threads, and the reference runtimes' intra-op threads.")
    var threads: Int = 2

    @Option(help: "Sentences per batch in throughput mode.")
    var batchSize: Int = 32

    @Option(help: "Timed passes over the sentences per configuration; the median pass is reported.")
    var repeats: Int = 3

    @Option(help: "Reference runtimes to run (comma-separated: torch, onnxruntime), or 'none'.")
    var reference: String = "torch,onnxruntime"

    @Option(help: "The reference script (installs its own virtualenv on first use).")
    var referenceScript: String = "bench/reference.py"

    @Flag(help: "Print one JSON object instead of a table: a list of configurations, each with its ratios = biotag ms / reference ms at the same batch size (below 1: biotag is faster).")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        let path = sentences ?? SharedData.path("data/bioner/disease/test.tsv")
        var texts = try IOBSentences.read(path: path)
        if let limit { texts = Array(texts.prefix(limit)) }
        guard !texts.isEmpty else { throw CommandError("\(path) has no sentences") }

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

        var results: [BenchResult] = []
        let modelName = (loaded.directory as NSString).lastPathComponent
        results.append(try EncoderBench.latency(model: loaded, sequences: sequences, threads: threads, repeats: repeats, name: modelName))
        // Throughput: one worker splitting each operation, and independent single-threaded workers.
        for (workers, perWorker) in [(1, threads)] + (threads > 1 ? [(threads, 1)] : []) {
            results.append(try EncoderBench.throughput(model: loaded, sequences: sequences, batchSize: batchSize, workers: workers, threads: perWorker, repeats: repeats, name: modelName))
        }
        for result in results { printError("  \(result.name): \(String(format: "%.3f", result.msPerSentence)) ms/sentence") }

        var references: [ReferenceResult] = []
        var referenceTokenizer: Double?
        var referenceNote: String?
        if reference != "none" {
            do {
                let output = try ReferenceRunner.run(script: referenceScript, model: loaded.directory, sentences: path, ids: sequences, limit: limit, threads: threads, batchSizes: [1, batchSize], runtimes: reference)
                references = output.results
                referenceTokenizer = output.tokenizer?.tokensPerSecond
            } catch {
                referenceNote = "reference not measured: \(error)"
                printError(referenceNote!)
            }
        }
        let report = BenchReport(model: modelName, sentences: texts.count, tokens: tokenCount, threads: threads,
                                 tokenizerTokensPerSecond: Double(tokenCount) / tokenizeSeconds, referenceTokenizerTokensPerSecond: referenceTokenizer,
                                 results: results, references: references, note: referenceNote)
        if json { print(report.json()) } else { print(report.table()) }
    }
}

/// The sentences of an IOB file: each sentence's tokens joined by single spaces.
enum IOBSentences {
    static func read(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("cannot read \(path)") }
        guard let text = String(validating: data, as: UTF8.self) else { throw CommandError("\(path): invalid UTF-8") }
        var sentences: [String] = []
        var tokens: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
            if trimmed.isEmpty {
                if !tokens.isEmpty { sentences.append(tokens.joined(separator: " ")); tokens = [] }
            } else if let token = trimmed.split(separator: "\t", omittingEmptySubsequences: false).first {
                tokens.append(token)
            }
        }
        if !tokens.isEmpty { sentences.append(tokens.joined(separator: " ")) }
        return sentences
    }
}

/// `../shared/` (or `$BIOTAG_SHARED`): the corpora and fixtures beside the repository.
enum SharedData {
    static func path(_ relative: String) -> String {
        let base = ProcessInfo.processInfo.environment["BIOTAG_SHARED"] ?? "../shared"
        return (base as NSString).appendingPathComponent(relative)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
