import Foundation
import Models

/// Anything that turns a packed batch into per-token logits for some heads: the training pass
/// (during training) or the inference engine (`biotag eval`).
public protocol TokenScorer: AnyObject {
    /// Logits `[tokens, labels of head]` for each requested head index, row-major.
    func logits(_ batch: PackedBatch, heads: [Int]) throws -> [[Float]]
}

extension TrainingPass: TokenScorer {
    public func logits(_ batch: PackedBatch, heads: [Int]) throws -> [[Float]] {
        _ = try encode(batch, training: false)
        return try heads.map { head in
            let pointer = try headLogits(head, training: false)
            return Array(UnsafeBufferPointer(start: pointer, count: batch.tokenCount * model.heads[head].labels.count))
        }
    }
}

/// Word-level predictions of several heads over a corpus, windows merged back into sentences.
public struct CorpusPredictions: Sendable {
    /// `labels[head][sentence][word]`, in the order of the heads asked for.
    public var labels: [[[String]]]
}

/// The trainer's devel evaluation: each word's best label (its first wordpiece's argmax) for
/// several heads over an encoded corpus, in length-sorted batches of at most `tokenBudget`
/// wordpieces. Read in seqeval's lenient mode, as the trainer scores it. `biotag eval` scores
/// the annotation pipeline instead (`CorpusEvaluation`), which is what users get.
public func predict(_ corpus: EncodedCorpus, heads: [Int], headLabels: [[String]], scorer: TokenScorer,
                    tokenBudget: Int = 4096) throws -> CorpusPredictions {
    var labels: [[[String]]] = heads.map { head in
        let outside = headLabels[head].firstIndex(of: "O") ?? 0
        return corpus.sentences.map { [String](repeating: headLabels[head][outside], count: $0.words.count) }
    }
    for batch in Batcher(tokenBudget: tokenBudget).batches(count: corpus.windows.count, length: { corpus.windows[$0].count }, sequence: { corpus.windows[$0].ids }) {
        let logits = try scorer.logits(batch.packed, heads: heads)
        for (slot, head) in heads.enumerated() {
            let names = headLabels[head]
            logits[slot].withUnsafeBufferPointer { values in
                for (member, index) in batch.members.enumerated() {
                    let window = corpus.windows[index]
                    for (wordOffset, piece) in window.firstPiece.enumerated() {
                        guard let piece else { continue }
                        let row = values.baseAddress! + (batch.firstRow(member) + piece) * names.count
                        var best = 0
                        for c in 1..<names.count where row[c] > row[best] { best = c }
                        labels[slot][window.sentence][window.words.lowerBound + wordOffset] = names[best]
                    }
                }
            }
        }
    }
    return CorpusPredictions(labels: labels)
}

/// One head scored on its own corpus, in both seqeval modes.
public struct TaskScore: Sendable, Codable {
    public let task: String
    public let sentences: Int
    public let lenient: SeqevalReport
    public let strict: SeqevalReport
}

public func score(task: String, gold: [LabelledSentence], predicted: [[String]]) throws -> TaskScore {
    let goldLabels = gold.map(\.labels)
    return TaskScore(task: task, sentences: gold.count,
                     lenient: try SeqevalReport.evaluate(gold: goldLabels, predicted: predicted, mode: .lenient),
                     strict: try SeqevalReport.evaluate(gold: goldLabels, predicted: predicted, mode: .strict))
}

/// How often a head tags the gold entities of another corpus (of that corpus's type, not the
/// head's): an entity is tagged fully when the head labels every one of its words, partly
/// when it labels some of them.
public struct ConfusionCell: Sendable, Encodable {
    public let head: String
    public let corpus: String
    public let entities: Int
    public let full: Int
    public let partial: Int
    public var share: Double { entities == 0 ? 0 : Double(full + partial) / Double(entities) }

    public init(head: String, corpus: String, gold: [LabelledSentence], predicted: [[String]]) {
        var entities = 0, full = 0, partial = 0
        for (sentence, labels) in zip(gold, predicted) {
            for chunk in chunks(sentence.labels, mode: .strict) {
                entities += 1
                let tagged = (chunk.start..<chunk.end).filter { labels[$0] != "O" }.count
                if tagged == chunk.end - chunk.start { full += 1 } else if tagged > 0 { partial += 1 }
            }
        }
        self.head = head; self.corpus = corpus; self.entities = entities; self.full = full; self.partial = partial
    }

    enum CodingKeys: String, CodingKey { case head, corpus, entities, full, partial, share }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(head, forKey: .head); try container.encode(corpus, forKey: .corpus)
        try container.encode(entities, forKey: .entities); try container.encode(full, forKey: .full)
        try container.encode(partial, forKey: .partial); try container.encode(share, forKey: .share)
    }
}

/// One head over every other corpus, except those of a type it legitimately overlaps with
/// (`overlappingTaskPairs`): how many of all their gold entities it tags, fully or partly.
public struct ConfusionTotal: Sendable, Encodable {
    public let head: String
    public let corpora: [String]
    public let entities: Int
    public let tagged: Int
    public var share: Double { entities == 0 ? 0 : Double(tagged) / Double(entities) }

    /// One total for each of `heads` that has cells, in that order.
    public static func totals(_ cells: [ConfusionCell], heads: [String]) -> [ConfusionTotal] {
        heads.filter { head in cells.contains { $0.head == head } }.map { head in
            let counted = cells.filter { $0.head == head && !overlappingTaskPairs.contains([head, $0.corpus]) }
            return ConfusionTotal(head: head, corpora: counted.map(\.corpus), entities: counted.reduce(0) { $0 + $1.entities },
                                  tagged: counted.reduce(0) { $0 + $1.full + $1.partial })
        }
    }

    enum CodingKeys: String, CodingKey { case head, corpora, entities, tagged, share }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(head, forKey: .head); try container.encode(corpora, forKey: .corpora)
        try container.encode(entities, forKey: .entities); try container.encode(tagged, forKey: .tagged)
        try container.encode(share, forKey: .share)
    }
}
