import Annotation
import Foundation
import Models

/// `biotag eval`: scores what `biotag annotate` outputs. Each sentence of an IOB corpus is given to
/// the annotation pipeline as the text a user would give (its words joined by single spaces, one
/// sentence, not cut again), with the same windows and decoding; the entities it returns are read
/// back as word labels (the first word an entity touches `B-`, the others `I-`) and scored with
/// seqeval. The F1 we publish is therefore the F1 of what users get from each head: the same
/// decoding and edge repair. Whether the rule between heads (`OverlapPolicy`) applies is the
/// annotator's setting; `biotag eval` leaves it out unless asked, since it departs from some
/// corpora's conventions on purpose.
public struct CorpusEvaluation {
    /// One corpus: the head it belongs to and its sentences.
    public struct Corpus: Sendable {
        public let task: String
        public let sentences: [LabelledSentence]

        public init(task: String, sentences: [LabelledSentence]) {
            self.task = task
            self.sentences = sentences
        }
    }

    /// The outcome: each scored head on its own corpus, its predicted word labels, and with
    /// `confusion` each head over the other corpora.
    public struct Result: Sendable {
        public var scores: [TaskScore] = []
        /// `predictions[task]`: the predicted labels of each sentence of the task's own corpus.
        public var predictions: [String: [[String]]] = [:]
        public var cells: [ConfusionCell] = []
    }

    public let annotator: Annotator

    /// - Parameter annotator: runs every head to be scored (and, for confusion, every head over
    ///   every corpus).
    public init(annotator: Annotator) { self.annotator = annotator }

    /// Scores `scored` heads on their own corpora; with `confusion`, every scored head also runs
    /// over every other corpus of `corpora`.
    public func run(_ corpora: [Corpus], scored: Set<String>, confusion: Bool) throws -> Result {
        var result = Result()
        for corpus in corpora {
            // The corpus's own head when it is scored, and with confusion every scored head.
            let heads = annotator.tasks.filter { scored.contains($0) && ($0 == corpus.task || confusion) }
            guard !heads.isEmpty else { continue }
            let texts = corpus.sentences.map { $0.words.joined(separator: " ") }
            let found = try annotator.annotate(sentences: texts, tasks: heads)
            for (slot, head) in heads.enumerated() {
                let isOwn = head == corpus.task
                let labelType = try self.labelType(of: head)
                let predicted = zip(corpus.sentences, found).map { sentence, heads in
                    Self.wordLabels(words: sentence.words, entities: heads[slot], labelType: labelType)
                }
                if isOwn {
                    result.scores.append(try score(task: head, gold: corpus.sentences, predicted: predicted))
                    result.predictions[head] = predicted
                } else {
                    result.cells.append(ConfusionCell(head: head, corpus: corpus.task, gold: corpus.sentences, predicted: predicted))
                }
            }
        }
        return result
    }

    /// How the corpus's labels name an entity type the annotator reports: a head with one entity
    /// type reports its task name, and its labels' type is that one type.
    private func labelType(of head: String) throws -> (String) -> String {
        guard let task = annotator.model.tasks.first(where: { $0.name == head }) else { throw EvaluationError.unknownHead(head) }
        let types = Set(task.spec.labels.compactMap { label -> String? in
            switch IOB2Role(label) {
            case .outside: nil
            case let .begin(type), let .inside(type): String(type)
            }
        })
        if types.count == 1, let only = types.first { return { _ in only } }
        return { $0 }
    }

    /// Word labels of one sentence from the entities found in `words.joined(separator: " ")`:
    /// each entity labels the words it overlaps, `B-` on the first and `I-` on the rest; a word
    /// an earlier entity already labelled keeps that label.
    public static func wordLabels(words: [String], entities: [Entity], labelType: (String) -> String) -> [String] {
        var labels = [String](repeating: "O", count: words.count)
        var starts: [Int] = []
        var position = 0
        for word in words {
            starts.append(position)
            position += word.unicodeScalars.count + 1
        }
        for entity in entities.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            let type = labelType(entity.type)
            var first = true
            for (index, start) in starts.enumerated() where labels[index] == "O" {
                let end = start + words[index].unicodeScalars.count
                guard start < entity.end, end > entity.start else { continue }
                labels[index] = (first ? "B-" : "I-") + type
                first = false
            }
        }
        return labels
    }
}

public enum EvaluationError: Error, CustomStringConvertible {
    case unknownHead(String)

    public var description: String {
        switch self {
        case let .unknownHead(name): "the model has no head '\(name)'"
        }
    }
}
