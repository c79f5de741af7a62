import Foundation
import Models

/// How wordpiece predictions become word predictions (the Hugging Face token-classification
/// pipeline's strategies).
public enum AggregationStrategy: String, Sendable, Codable, CaseIterable {
    /// No word grouping: every wordpiece is labelled on its own, and entities are read off the
    /// wordpiece labels. An entity may end inside a word.
    case simple
    /// A word takes the prediction of its first wordpiece: what the models are trained on.
    case first
    /// A word takes the mean of its wordpieces' probabilities.
    case average
    /// A word takes the prediction of its most confident wordpiece.
    case max
}

/// Turns one head's per-wordpiece probabilities over one sentence into entities: groups
/// wordpieces into words, picks each word's label (argmax, or constrained Viterbi), and reads
/// the labels as IOB2 the way seqeval's default mode does (an `I-X` after `O` or another type
/// opens an entity), so what is reported is what a scorer would count.
public struct EntityDecoder: Sendable {
    public let labels: [String]
    public let aggregation: AggregationStrategy
    public let decoding: Decoding
    private let roles: [IOB2Role]
    /// The entity type of each label (nil for outside labels).
    private let types: [String?]

    /// - Parameter typeName: the reported type of a label's entity type (`Disease` → `disease`).
    public init(labels: [String], aggregation: AggregationStrategy, decoding: Decoding, typeName: (String) -> String) {
        self.labels = labels
        self.aggregation = aggregation
        self.decoding = decoding
        roles = labels.map(IOB2Role.init)
        types = roles.map { role in
            switch role {
            case .outside: nil
            case let .begin(type), let .inside(type): typeName(String(type))
            }
        }
    }

    /// A decoded span over wordpieces: `tokens` are indices into the sentence's wordpieces.
    public struct Span: Equatable, Sendable {
        public var type: String
        public var tokens: ClosedRange<Int>
        public var score: Double
    }

    /// - Parameters:
    ///   - probabilities: `[tokens, labels]` row-major, each row a probability distribution.
    ///   - wordIds: the word of each wordpiece (as `Encoding.wordIds`, specials removed).
    public func decode(probabilities: UnsafeBufferPointer<Float>, wordIds: [Int?]) -> [Span] {
        let classes = labels.count
        let tokens = wordIds.count
        precondition(probabilities.count == tokens * classes, "one probability row per wordpiece")
        // Units: runs of wordpieces of the same word, or single wordpieces for `simple`.
        var units: [ClosedRange<Int>] = []
        for token in 0..<tokens {
            if aggregation != .simple, let last = units.last, let word = wordIds[token], wordIds[last.upperBound] == word {
                units[units.count - 1] = last.lowerBound...token
            } else {
                units.append(token...token)
            }
        }
        var unitScores = [Float](repeating: 0, count: units.count * classes)
        for (u, unit) in units.enumerated() {
            let row = { (token: Int) in probabilities[(token * classes)..<((token + 1) * classes)] }
            switch aggregation {
            case .simple, .first:
                for (c, p) in row(unit.lowerBound).enumerated() { unitScores[u * classes + c] = p }
            case .average:
                for token in unit { for (c, p) in row(token).enumerated() { unitScores[u * classes + c] += p / Float(unit.count) } }
            case .max:
                let best = unit.max { row($0).max()! < row($1).max()! }!
                for (c, p) in row(best).enumerated() { unitScores[u * classes + c] = p }
            }
        }
        let chosen: [Int]
        if decoding == .viterbi {
            let logs = (0..<units.count).map { u in (0..<classes).map { log(Swift.max(unitScores[u * classes + $0], 1e-30)) } }
            chosen = viterbiDecode(scores: logs, labels: labels)
        } else {
            chosen = (0..<units.count).map { u in
                var best = 0
                for c in 1..<classes where unitScores[u * classes + c] > unitScores[u * classes + best] { best = c }
                return best
            }
        }
        var spans: [Span] = []
        var open: (type: String, first: Int, last: Int, total: Double, count: Int)?
        func close() {
            if let entity = open {
                spans.append(Span(type: entity.type, tokens: units[entity.first].lowerBound...units[entity.last].upperBound, score: entity.total / Double(entity.count)))
            }
            open = nil
        }
        for (u, label) in chosen.enumerated() {
            let score = Double(unitScores[u * classes + label])
            switch roles[label] {
            case .outside:
                close()
            case .inside where open?.type == types[label]:
                open!.last = u
                open!.total += score
                open!.count += 1
            case .begin, .inside:
                close()
                open = (types[label]!, u, u, score, 1)
            }
        }
        close()
        return spans
    }
}
