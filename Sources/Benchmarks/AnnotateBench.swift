import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Linking
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
            entity texts, JSON lines written to /dev/null). Each is timed --repeats times; the medians are reported. \
            With linkers (the model's linking/ directory and --linkers; --no-link for none) the pipeline is also timed with \
            linking, alternating with the plain pipeline in each repeat, and the time to open the linkers is measured.
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

    @Option(help: ArgumentHelp("Another directory of linkers (repeatable).", valueName: "dir"))
    var linkers: [String] = []

    @Flag(help: "Do not time linking.")
    var noLink = false

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
        /// With linking: the heads linked, seconds to open every linker, the pipeline with linking,
        /// and its time over the plain pipeline's (medians of the same repeats).
        var linkedHeads: [String]?
        var linkerLoadSeconds: Double?
        var linkedSentencesPerSecond: Double?
        var linkingCost: Double?
        var linkedConcepts: Int?
    }

    func run() throws {
        let (threads, workers) = runtime.resolved(threads: 2, workers: 1)
        let directory = try modelDirectory(model)
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
        var linking: (set: LinkerSet, seconds: Double)?
        if !noLink {
            let start = ContinuousClock.now
            do {
                let set = try LinkerSet.load(directories: [LinkerSet.directory(ofModel: directory)] + linkers)
                if !set.isEmpty { linking = (set, (ContinuousClock.now - start).seconds) }
            } catch { throw CommandError(error.description) }
        }
        var entities = 0, concepts = 0
        func pass(linked: Bool) throws {
            var writer = try makeWriter(format: .jsonl, destination: "/dev/null")
            var annotated = try annotator.annotate(documents)
            // A new linker each pass: its memory of answers starts empty, as in a job of these sentences.
            if linked, let linking { annotated = DocumentLinker(linkers: linking.set, workers: workers).link(annotated) }
            for document in annotated { try writer.write(document, model: annotator.identity) }
            try writer.finish()
            entities = annotated.reduce(0) { $0 + $1.documentEntities.count }
            if linked { concepts = annotated.reduce(0) { $0 + $1.documentEntities.filter { !$0.concepts.isEmpty }.count } }
        }
        // Plain and linked passes alternate, so that both see the same machine.
        var plainTimes: [Double] = [], linkedTimes: [Double] = []
        for _ in 0..<repeats {
            var start = ContinuousClock.now
            try pass(linked: false)
            plainTimes.append((ContinuousClock.now - start).seconds)
            guard linking != nil else { continue }
            start = ContinuousClock.now
            try pass(linked: true)
            linkedTimes.append((ContinuousClock.now - start).seconds)
        }
        let pipeline = plainTimes.sorted()[plainTimes.count / 2]
        let linkedPipeline = linkedTimes.isEmpty ? nil : linkedTimes.sorted()[linkedTimes.count / 2]
        let report = Report(model: annotator.identity.name, sentences: texts.count, threads: threads,
                            engineSentencesPerSecond: Double(texts.count) / engine, pipelineSentencesPerSecond: Double(texts.count) / pipeline,
                            pipelineOverhead: pipeline / engine - 1, entities: entities,
                            linkedHeads: linking.map { $0.set.linkers.keys.sorted() }, linkerLoadSeconds: linking?.seconds,
                            linkedSentencesPerSecond: linkedPipeline.map { Double(texts.count) / $0 }, linkingCost: linkedPipeline.map { $0 / pipeline },
                            linkedConcepts: linking == nil ? nil : concepts)
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        } else {
            print(String(format: "%@: %d sentences, %d heads, %d threads, pipeline with %d worker(s)\n  engine (encoder + heads)  %8.1f sentences/s\n  annotate pipeline         %8.1f sentences/s  (%d entities)\n  pipeline overhead         %+7.1f%%",
                         report.model, texts.count, tasks.count, threads, workers, report.engineSentencesPerSecond, report.pipelineSentencesPerSecond, entities, report.pipelineOverhead * 100))
            if let linking, let linked = report.linkedSentencesPerSecond, let cost = report.linkingCost {
                print(String(format: "  annotate + link           %8.1f sentences/s  (%d entities linked; %@)\n  linking cost              %7.3fx the pipeline's time\n  linkers opened in         %8.3f s",
                             linked, concepts, linking.set.linkers.keys.sorted().joined(separator: ","), cost, linking.seconds))
            }
        }
    }
}
