import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Linking
import Models
import Training

struct EvalDocuments: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-documents",
        abstract: "Annotate a corpus's raw documents as `annotate` does and score exact spans; count what a curator would reject.",
        discussion: """
            The documents of a PubTator file (title and abstract) or of a standoff table (DIR/NAME.tsv:SPLIT) go through \
            the whole pipeline, every head at once, from their raw text (not the pre-split words `eval` reads). Each gold \
            type named in --heads is scored against its head on exact document offsets. The counts cover every reported \
            entity: spans that two entities share, entities with several types, without a letter or digit, with a \
            punctuation edge, and fragments (edges the pipeline's repair would move, or entities it would drop). \
            Compare with --raw to see what the repair and the rule between heads change.
            """)

    @Option(help: ArgumentHelp("A PubTator file, or a standoff table with its split (DIR/NAME.tsv:SPLIT).", valueName: "corpus"))
    var corpus: String

    @Option(help: ArgumentHelp("GOLD=HEAD pairs, comma-separated: which head answers for a gold type (a standoff table's type is empty: =species).",
                               valueName: "pairs"))
    var heads: String

    @Option(help: "Model directory (default: the default model).")
    var model: String?

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var runtime: RuntimeOptions

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func pairs() throws(ValidationError) -> [String: String] {
        var result: [String: String] = [:]
        for text in commaList(heads) {
            let (gold, head) = try keyValue(text, option: "--heads", form: "GOLD=HEAD", example: "Disease=disease")
            guard result.updateValue(head, forKey: gold) == nil else { throw ValidationError("--heads names the gold type '\(gold)' twice") }
        }
        guard !result.isEmpty else { throw ValidationError("--heads names no pair") }
        return result
    }

    func validate() throws { _ = try pairs() }

    func run() throws {
        let mapping = try pairs()
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: try modelDirectory(model)) } catch let error as ModelLoadError { throw CommandError(error.description) }
        for head in Set(mapping.values) where !loaded.tasks.contains(where: { $0.name == head }) {
            throw CommandError("--heads: the model has no head '\(head)' (it has \(loaded.tasks.map(\.name).joined(separator: ", ")))")
        }
        let gold: LinkingCorpus
        do { gold = try LinkingCorpus.load(specification: corpus) } catch { throw CommandError(error.description) }
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        let annotated: [Document]
        do {
            let annotator = try Annotator(model: loaded, settings: pipeline.settings(tasks: nil), threads: threads, workers: workers)
            defer { annotator.shutdown() }
            annotated = try annotator.annotate(gold.documents)
        } catch { throw CommandError(error.description) }
        let evaluation = DocumentEvaluation(annotated: annotated, gold: gold, heads: mapping)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(evaluation), as: UTF8.self))
            return
        }
        print("\(corpus): \(annotated.count) documents, \(pipeline.raw ? "raw head output" : "repaired edges, one answer per span"), \(pipeline.settings(tasks: nil).decoding.rawValue) decoding")
        print("head                 gold  found  right      P      R     F1  gold types")
        for score in evaluation.scores {
            print(String(format: "%@ %6d %6d %6d %6.2f %6.2f %6.2f  %@", score.head.padding(toLength: 18, withPad: " ", startingAt: 0), score.gold,
                         score.predicted, score.correct, 100 * score.precision, 100 * score.recall, 100 * score.f1,
                         score.goldTypes.map { $0.isEmpty ? "(any)" : $0 }.joined(separator: ",")))
        }
        let s = evaluation.statistics
        func share(_ n: Int) -> String { String(format: "%d (%.1f%%)", n, s.entities == 0 ? 0 : 100 * Double(n) / Double(s.entities)) }
        print("entities \(s.entities): same span as another entity \(share(s.sharedSpan)), several types \(share(s.severalTypes)), "
            + "no letter or digit \(share(s.withoutLetterOrDigit)), punctuation edge \(share(s.punctuationEdge)), fragments \(share(s.fragment))")
        print("by type: " + s.byType.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}
