import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model's token heads on IOB corpora with seqeval's entity-level metrics.",
        discussion: """
            For each head, the folder of --data named like it is read (<split>.tsv) and scored: precision, recall and F1 \
            over entities, in seqeval's default (lenient) mode and in strict IOB2 mode, per entity type and micro-averaged. \
            With --confusion, every head also runs over the other heads' corpora and the table shows how many of their gold \
            entities (of another type) it tags, fully or partly. With --relations, every relation head of the model is \
            scored too, as BioCreative V counts (concept pairs per document), over the entities and concepts of a PubTator \
            file (e.g. BC5CDR devel for the CID head): the head's own error, without the entities' and the linking's.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Folder holding one sub-folder per task, named like the model's heads.")
    var data: String

    @Option(help: "Which file of each task folder: train, devel or test.")
    var split: String = "test"

    @Option(help: ArgumentHelp("Comma-separated heads to score (default: every head with a folder in --data).", valueName: "names"))
    var tasks: String?

    @Option(help: ArgumentHelp("PubTator file with gold entities, concept ids and relation lines: also score every relation head over it.",
                               valueName: "file"))
    var relations: String?

    @Flag(help: "Also run every head over the other heads' corpora and report how often it tags their entities.")
    var confusion = false

    @Flag(help: ArgumentHelp("Score each head after the rule between heads that annotate applies (every head runs on every corpus).",
                             discussion: "By default each head is scored on its own corpus's conventions, its spans repaired but not reconciled with the other heads': the rule gives a tumour to the disease head on purpose, which AnatEM, the anatomy corpus, counts as anatomy. This flag measures what the rule costs each corpus (docs/RESULTS.md)."))
    var overlaps = false

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var runtime: RuntimeOptions

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: ArgumentHelp("""
        Also write each scored head's labels to <folder>/<task>.<split>.tsv: word, gold label and predicted label per \
        line, tab-separated, a blank line between sentences (an IOB file whose last column is the prediction).
        """, valueName: "folder"))
    var predictions: String?

    func validate() throws {
        guard ["train", "devel", "test"].contains(split) else { throw ValidationError("--split must be train, devel or test, got '\(split)'") }
    }

    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        let tokenHeads = loaded.tasks.filter { if case .token = $0.head { return true } else { return false } }.map(\.name)
        guard !tokenHeads.isEmpty else { throw CommandError("\(model.directory) has no token-classification heads to evaluate") }
        let requested = tasks.map(commaList)
        if let requested {
            for name in requested where !tokenHeads.contains(name) {
                throw CommandError("--tasks: the model has no token head '\(name)' (it has \(tokenHeads.joined(separator: ", ")))")
            }
        }
        // The corpus of each head, when --data has it.
        var corpora: [CorpusEvaluation.Corpus] = []
        for name in tokenHeads {
            let path = ((data as NSString).appendingPathComponent(name) as NSString).appendingPathComponent("\(split).tsv")
            let wanted = requested?.contains(name) ?? true
            guard wanted || confusion, FileManager.default.fileExists(atPath: path) else {
                if requested?.contains(name) == true { throw CommandError("\(path): no such file for task '\(name)'") }
                continue
            }
            do { corpora.append(CorpusEvaluation.Corpus(task: name, sentences: try IOBReader.read(path: path))) } catch { throw CommandError(error.description) }
        }
        guard !corpora.isEmpty else { throw CommandError("\(data): no folder named like a head (\(tokenHeads.joined(separator: ", "))) holds \(split).tsv") }
        let scored = Set(corpora.map(\.task).filter { requested?.contains($0) ?? true })
        if let predictions {
            do { try FileManager.default.createDirectory(atPath: predictions, withIntermediateDirectories: true) } catch {
                throw CommandError("--predictions: cannot create the folder \(predictions): \(error.localizedDescription)")
            }
        }
        // One pass of the annotation pipeline per corpus: the heads scored, and with --confusion the
        // corpora's own heads too (the encoder runs once either way).
        let heads = tokenHeads.filter { head in scored.contains(head) || (confusion && corpora.contains { $0.task == head }) }
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        let annotator: Annotator
        // With --overlaps every head runs: the rule between heads decides what each one reports.
        var settings = pipeline.settings(tasks: overlaps && !pipeline.raw ? nil : heads)
        if !overlaps { settings.overlaps = nil }
        do { annotator = try Annotator(model: loaded, settings: settings, threads: threads, workers: workers) } catch {
            throw CommandError("\(error)")
        }
        defer { annotator.shutdown() }
        let started = ContinuousClock.now
        let result: CorpusEvaluation.Result
        do { result = try CorpusEvaluation(annotator: annotator).run(corpora, scored: scored, confusion: confusion) } catch {
            throw CommandError("evaluating: \(error)")
        }
        let scores = result.scores, cells = result.cells
        let relationScores = try relations.map { try scoreRelations($0, annotator: annotator) } ?? []
        if let folder = predictions {
            for corpus in corpora {
                guard let labels = result.predictions[corpus.task] else { continue }
                let path = (folder as NSString).appendingPathComponent("\(corpus.task).\(split).tsv")
                do { try predictionLines(corpus.sentences, labels).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                    throw CommandError("--predictions: cannot write \(path): \(error.localizedDescription)")
                }
            }
        }
        let decoding = annotator.settings.decoding.rawValue
        let seconds = (ContinuousClock.now - started).components.seconds
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = EvalReport(model: model.directory, split: split, decoding: decoding, tasks: scores, confusion: confusion ? cells : nil,
                                    confusionTotals: confusion ? ConfusionTotal.totals(cells, heads: loaded.tasks.map(\.name)) : nil,
                                    relations: relations == nil ? nil : relationScores)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("\(model.directory) on \(split), \(decoding) decoding (seqeval entity-level; lenient = seqeval's default)")
        print("task                  sentences  precision  recall      F1   strict F1")
        for score in scores {
            let micro = score.lenient.micro
            print(score.task.padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(format: " %10d %10.2f %7.2f %7.2f %11.2f", score.sentences, 100 * micro.precision, 100 * micro.recall,
                         100 * micro.f1, 100 * score.strict.micro.f1))
        }
        if scores.count > 1 {
            let mean = scores.map(\.lenient.micro.f1).reduce(0, +) / Double(scores.count)
            print("mean".padding(toLength: 20, withPad: " ", startingAt: 0) + String(repeating: " ", count: 35) + String(format: "%7.2f", 100 * mean))
        }
        if let relations {
            print("\nrelation heads over the gold entities and concepts of \(relations) (BioCreative V: concept pairs per document)")
            print("task       type             gold  found  right      P      R     F1")
            for score in relationScores {
                let pairs = score.evaluation.relations ?? RelationScore()
                print(score.task.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + score.evaluation.type.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: " %8d %6d %6d %6.2f %6.2f %6.2f", pairs.gold, pairs.predicted, pairs.correct, 100 * pairs.precision, 100 * pairs.recall, 100 * pairs.f1))
            }
        }
        if confusion {
            print("\nconfusion: share of each corpus's gold entities (columns) that a head (rows) tags, fully or partly")
            let names = corpora.map(\.task)
            print("head".padding(toLength: 20, withPad: " ", startingAt: 0) + names.map { String($0.prefix(9)).leftPadded(10) }.joined() + "all others".leftPadded(12))
            let totals = ConfusionTotal.totals(cells, heads: loaded.tasks.map(\.name))
            for task in tokenHeads where scored.contains(task) {
                var line = task.padding(toLength: 20, withPad: " ", startingAt: 0)
                for name in names {
                    if let cell = cells.first(where: { $0.head == task && $0.corpus == name }) {
                        let mark = overlappingTaskPairs.contains([task, name]) ? "*" : " "
                        line += String(format: "%8.1f%%", 100 * cell.share) + mark
                    } else {
                        line += "—".leftPadded(10)
                    }
                }
                if let total = totals.first(where: { $0.head == task }) { line += String(format: "%11.1f%%", 100 * total.share) }
                print(line)
            }
            print("* a pair of types that legitimately overlap; \"all others\": every corpus but the head's own and those pairs")
        }
        printError("evaluated in \(seconds) s")
    }
}

extension Eval {
    /// Every relation head of the annotator's model over the gold entities of `path`.
    func scoreRelations(_ path: String, annotator: Annotator) throws -> [RelationHeadEvaluation] {
        guard !annotator.relationHeads.isEmpty else { throw CommandError("--relations \(path): \(model.directory) has no relation head") }
        let gold = try EvalRelations.read(path)
        return try annotator.relationHeads.map { name, head in
            guard gold.contains(where: { $0.relations.contains { $0.type == head.type } }) else {
                throw CommandError("--relations \(path): no \(head.type) relation lines (PMID<TAB>\(head.type)<TAB>concept<TAB>concept) for the head '\(name)'")
            }
            let predicted = try EvalRelations.relations(gold, annotator: annotator, head: name)
            let roles = (head.arguments[0].types.first ?? "", head.arguments[1].types.first ?? "")
            return RelationHeadEvaluation(task: name, evaluation: RelationEvaluation(gold: gold, predicted: predicted, type: head.type, roles: roles))
        }
    }
}

/// One relation head's scores in `biotag eval --relations`.
struct RelationHeadEvaluation: Encodable {
    let task: String
    let evaluation: RelationEvaluation

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(evaluation.type, forKey: .type)
        try container.encode(evaluation.relations ?? RelationScore(), forKey: .scores)
        try container.encode(evaluation.documents, forKey: .documents)
    }

    enum CodingKeys: String, CodingKey { case task, type, scores, documents }
}

/// `biotag eval --predictions`: `word<TAB>gold<TAB>predicted` per word, a blank line after each sentence.
func predictionLines(_ sentences: [LabelledSentence], _ predicted: [[String]]) -> String {
    var text = ""
    for (sentence, labels) in zip(sentences, predicted) {
        for (index, word) in sentence.words.enumerated() { text += "\(word)\t\(sentence.labels[index])\t\(labels[index])\n" }
        text += "\n"
    }
    return text
}

/// `biotag eval --json`.
struct EvalReport: Encodable {
    let model: String
    let split: String
    let decoding: String
    let tasks: [TaskScore]
    let confusion: [ConfusionCell]?
    /// Per head, over every other corpus but the overlapping types.
    let confusionTotals: [ConfusionTotal]?
    /// With `--relations`.
    let relations: [RelationHeadEvaluation]?

    enum CodingKeys: String, CodingKey {
        case model, split, decoding, tasks, confusion, relations
        case confusionTotals = "confusion_totals"
    }
}
