import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct BenchAnnotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotate",
        abstract: "What the annotation pipeline costs on top of the model: sentences/s of the whole pipeline beside the engine alone.",
        discussion: """
            Over the same sentences (default: the 940 NCBI-disease test sentences) and the same batches: the engine \
            (tokenized, length-sorted batches under the token budget, encoder and every head) and the pipeline \
            (sentence splitting, tokenization, windows, batching, the forward pass, softmax, word aggregation, decoding, \
            entity texts, JSON lines written to /dev/null). Each is timed --repeats times; the medians are reported.
            """)

    @Option(help: ArgumentHelp("Model directory with token heads (default: the default model).", valueName: "dir"))
    var model: String?

    @Option(help: "IOB file; a sentence is its tokens joined by spaces.")
    var sentences: String?

    /// The pipeline's workers × threads; the engine figure uses one runner with --threads.
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "Timed passes per measurement; the median is reported.")
    var repeats: Int = 3

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    struct Report: Encodable {
        var model: String
        var sentences: Int
        var threads: Int
        var engineSentencesPerSecond: Double
        var pipelineSentencesPerSecond: Double
        /// pipeline seconds / engine seconds − 1.
        var pipelineOverhead: Double
        var entities: Int
    }

    func run() throws {
        let (threads, workers) = runtime.resolved(threads: 2, workers: 1)
        let directory = try model ?? defaultModelDirectory()
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: directory) } catch { throw CommandError(error.description) }
        let texts = try IOBReader.sentenceTexts(path: sentences ?? SharedData.path("data/bioner/disease/test.tsv"))
        guard !texts.isEmpty else { throw CommandError("no sentences to annotate") }
        let annotator: Annotator
        do { annotator = try Annotator(model: loaded, threads: threads, workers: workers) } catch { throw CommandError(error.description) }
        defer { annotator.shutdown() }
        let settings = annotator.settings
        let runner: MultiTaskRunner
        do { runner = try MultiTaskRunner(model: loaded, threads: threads) } catch { throw CommandError(error.description) }
        defer { runner.shutdown() }

        // The engine alone: the same pieces the pipeline makes, tokenized beforehand.
        let pieces = texts.map { loaded.tokenizer.truncate(loaded.tokenizer.encode($0), maxLength: settings.maxLength).ids }
        let batches = Batcher(tokenBudget: settings.tokenBudget).batches(pieces).map(\.packed)
        let tasks = Set(annotator.tasks)
        func median(_ body: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                try body()
                times.append((ContinuousClock.now - start).seconds)
            }
            return times.sorted()[times.count / 2]
        }
        _ = try runner.forward(batches[0], tasks: tasks)  // warm-up: oneDNN primitives, page faults
        let engine = try median { for batch in batches { _ = try runner.forward(batch, tasks: tasks) } }
        let documents = texts.enumerated().map { Document(id: "s\($0)", text: $1) }
        var entities = 0
        let pipeline = try median {
            var writer = try makeWriter(format: .jsonl, destination: "/dev/null")
            let annotated = try annotator.annotate(documents)
            for document in annotated { try writer.write(document, model: annotator.identity) }
            try writer.finish()
            entities = annotated.reduce(0) { $0 + $1.documentEntities.count }
        }
        let report = Report(model: annotator.identity.name, sentences: texts.count, threads: threads,
                            engineSentencesPerSecond: Double(texts.count) / engine, pipelineSentencesPerSecond: Double(texts.count) / pipeline,
                            pipelineOverhead: pipeline / engine - 1, entities: entities)
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        } else {
            print(String(format: "%@: %d sentences, %d heads, %d threads, pipeline with %d worker(s)\n  engine (encoder + heads)  %8.1f sentences/s\n  annotate pipeline         %8.1f sentences/s  (%d entities)\n  pipeline overhead         %+7.1f%%",
                         report.model, texts.count, tasks.count, threads, workers, report.engineSentencesPerSecond, report.pipelineSentencesPerSecond, entities, report.pipelineOverhead * 100))
        }
    }
}
