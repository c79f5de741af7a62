import ArgumentParser
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
            entities (of another type) it tags, fully or partly.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Folder holding one sub-folder per task, named like the model's heads.")
    var data: String

    @Option(help: "Which file of each task folder: train, devel or test.")
    var split: String = "test"

    @Option(help: ArgumentHelp("Comma-separated heads to score (default: every head with a folder in --data).", valueName: "names"))
    var tasks: String?

    @Option(help: ArgumentHelp("How word labels are read: argmax (each word's best label, invalid IOB2 repaired as the lenient scorer reads it) or viterbi (the best valid IOB2 sequence).",
                               valueName: "argmax|viterbi"))
    var decoding: String = "argmax"

    @Flag(help: "Also run every head over the other heads' corpora and report how often it tags their entities.")
    var confusion = false

    @Option(help: "Longest window in wordpieces; longer sentences are cut at word boundaries.")
    var maxLength: Int = 512

    @Option(help: "Threads splitting each operation.")
    var threads: Int = 2

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: ArgumentHelp("""
        Also write each scored head's labels to <folder>/<task>.<split>.tsv: word, gold label and predicted label per \
        line, tab-separated, a blank line between sentences (an IOB file whose last column is the prediction).
        """, valueName: "folder"))
    var predictions: String?

    func validate() throws {
        guard ["train", "devel", "test"].contains(split) else { throw ValidationError("--split must be train, devel or test, got '\(split)'") }
        guard Decoding(rawValue: decoding) != nil else { throw ValidationError("--decoding must be argmax or viterbi, got '\(decoding)'") }
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        let tokenHeads = loaded.tasks.enumerated().filter { if case .token = $0.element.head { return true } else { return false } }
        guard !tokenHeads.isEmpty else { throw CommandError("\(model.directory) has no token-classification heads to evaluate") }
        let requested = tasks.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let requested {
            for name in requested where !tokenHeads.contains(where: { $0.element.name == name }) {
                throw CommandError("--tasks: the model has no token head '\(name)' (it has \(tokenHeads.map(\.element.name).joined(separator: ", ")))")
            }
        }
        // The corpus of each head, when --data has it.
        var corpora: [(head: Int, name: String, corpus: EncodedCorpus)] = []
        for (index, task) in tokenHeads {
            let path = ((data as NSString).appendingPathComponent(task.name) as NSString).appendingPathComponent("\(split).tsv")
            let wanted = requested?.contains(task.name) ?? true
            guard wanted || confusion, FileManager.default.fileExists(atPath: path) else {
                if requested?.contains(task.name) == true { throw CommandError("\(path): no such file for task '\(task.name)'") }
                continue
            }
            do {
                corpora.append((index, task.name, EncodedCorpus(sentences: try IOBReader.read(path: path), tokenizer: loaded.tokenizer, maxLength: min(maxLength, loaded.config.maxPositions))))
            } catch { throw CommandError(error.description) }
        }
        guard !corpora.isEmpty else { throw CommandError("\(data): no folder named like a head (\(tokenHeads.map(\.element.name).joined(separator: ", "))) holds \(split).tsv") }
        let scored = corpora.filter { requested?.contains($0.name) ?? true }
        if let predictions {
            do { try FileManager.default.createDirectory(atPath: predictions, withIntermediateDirectories: true) } catch {
                throw CommandError("--predictions: cannot create the folder \(predictions): \(error.localizedDescription)")
            }
        }
        let runner = try MultiTaskRunner(model: loaded, threads: threads)
        defer { runner.shutdown() }
        let scorer = RunnerScorer(runner: runner)
        let labels = loaded.tasks.map(\.spec.labels)
        let mode = Decoding(rawValue: decoding)!
        var scores: [TaskScore] = []
        var cells: [ConfusionCell] = []
        let started = ContinuousClock.now
        for entry in corpora {
            // With --confusion, the scored heads all read this corpus too.
            let heads = confusion ? Array(Set(scored.map(\.head) + [entry.head])).sorted() : [entry.head]
            let predictions: CorpusPredictions
            do { predictions = try predict(entry.corpus, heads: heads, headLabels: labels, scorer: scorer, decoding: mode) } catch {
                throw CommandError("evaluating \(entry.name): \(error)")
            }
            for (slot, head) in heads.enumerated() {
                let headName = loaded.tasks[head].name
                if head == entry.head {
                    if scored.contains(where: { $0.head == head }) {
                        scores.append(try score(task: headName, gold: entry.corpus.sentences, predicted: predictions.labels[slot]))
                        if let folder = self.predictions {
                            let path = (folder as NSString).appendingPathComponent("\(headName).\(split).tsv")
                            do { try predictionLines(entry.corpus.sentences, predictions.labels[slot]).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                                throw CommandError("--predictions: cannot write \(path): \(error.localizedDescription)")
                            }
                        }
                    }
                } else {
                    cells.append(ConfusionCell(head: headName, corpus: entry.name, gold: entry.corpus.sentences, predicted: predictions.labels[slot]))
                }
            }
        }
        let seconds = (ContinuousClock.now - started).components.seconds
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = EvalReport(model: model.directory, split: split, decoding: decoding, tasks: scores, confusion: confusion ? cells : nil,
                                    confusionTotals: confusion ? ConfusionTotal.totals(cells, heads: loaded.tasks.map(\.name)) : nil)
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
        if confusion {
            print("\nconfusion: share of each corpus's gold entities (columns) that a head (rows) tags, fully or partly")
            let names = corpora.map(\.name)
            print("head".padding(toLength: 20, withPad: " ", startingAt: 0) + names.map { String($0.prefix(9)).leftPadded(10) }.joined() + "all others".leftPadded(12))
            let totals = ConfusionTotal.totals(cells, heads: loaded.tasks.map(\.name))
            for (_, task) in tokenHeads where scored.contains(where: { $0.name == task.name }) {
                var line = task.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                for name in names {
                    if let cell = cells.first(where: { $0.head == task.name && $0.corpus == name }) {
                        let mark = overlappingTaskPairs.contains([task.name, name]) ? "*" : " "
                        line += String(format: "%8.1f%%", 100 * cell.share) + mark
                    } else {
                        line += "—".leftPadded(10)
                    }
                }
                if let total = totals.first(where: { $0.head == task.name }) { line += String(format: "%11.1f%%", 100 * total.share) }
                print(line)
            }
            print("* a pair of types that legitimately overlap; \"all others\": every corpus but the head's own and those pairs")
        }
        printError("evaluated in \(seconds) s")
    }
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

    enum CodingKeys: String, CodingKey {
        case model, split, decoding, tasks, confusion
        case confusionTotals = "confusion_totals"
    }
}

/// The inference engine as a `TokenScorer`.
final class RunnerScorer: TokenScorer {
    let runner: MultiTaskRunner
    init(runner: MultiTaskRunner) { self.runner = runner }

    func logits(_ batch: PackedBatch, heads: [Int]) throws -> [[Float]] {
        let names = heads.map { runner.model.tasks[$0].name }
        let output = try runner.forward(batch, tasks: Set(names))
        return names.map { output.logits[$0] ?? [] }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
