import Annotation
import Foundation
import Linking

/// What a curator sees on whole documents: the pipeline's entities on raw abstracts (title and
/// text as PubTator gives them) against the gold mentions, on exact spans, and what the output
/// holds that nobody would accept: one span reported by two heads, entities without a letter or
/// digit, entities with a punctuation edge.
public struct DocumentEvaluation: Sendable, Codable, Equatable {
    /// Exact-span scores of one head against the gold types it answers for.
    public struct TypeScore: Sendable, Codable, Equatable {
        public let goldTypes: [String]
        public let head: String
        public let gold: Int
        public let predicted: Int
        public let correct: Int
        public var precision: Double { predicted == 0 ? 0 : Double(correct) / Double(predicted) }
        public var recall: Double { gold == 0 ? 0 : Double(correct) / Double(gold) }
        public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }

        enum CodingKeys: String, CodingKey { case goldTypes = "gold_types", head, gold, predicted, correct, precision, recall, f1 }

        public init(goldTypes: [String], head: String, gold: Int, predicted: Int, correct: Int) {
            self.goldTypes = goldTypes; self.head = head; self.gold = gold; self.predicted = predicted; self.correct = correct
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(goldTypes: try container.decode([String].self, forKey: .goldTypes), head: try container.decode(String.self, forKey: .head),
                      gold: try container.decode(Int.self, forKey: .gold), predicted: try container.decode(Int.self, forKey: .predicted),
                      correct: try container.decode(Int.self, forKey: .correct))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(goldTypes, forKey: .goldTypes); try container.encode(head, forKey: .head)
            try container.encode(gold, forKey: .gold); try container.encode(predicted, forKey: .predicted); try container.encode(correct, forKey: .correct)
            try container.encode(precision, forKey: .precision); try container.encode(recall, forKey: .recall); try container.encode(f1, forKey: .f1)
        }
    }

    /// Counts over every reported entity (an entity with several types counts once).
    public struct Statistics: Sendable, Codable, Equatable {
        public var entities = 0
        /// Entities whose exact span another reported entity of another type also has.
        public var sharedSpan = 0
        /// Entities that carry more than one type (one span, one entity, its heads noted).
        public var severalTypes = 0
        public var withoutLetterOrDigit = 0
        /// Entities whose first or last character is punctuation, whatever it is.
        public var punctuationEdge = 0
        /// Entities whose edges `EntityBoundaries` would move or that it would drop: word
        /// fragments ("-PLL"), stray brackets, function words.
        public var fragment = 0
        /// Entities per type (the first one).
        public var byType: [String: Int] = [:]

        enum CodingKeys: String, CodingKey {
            case entities, sharedSpan = "shared_span", severalTypes = "several_types", withoutLetterOrDigit = "without_letter_or_digit"
            case punctuationEdge = "punctuation_edge", fragment, byType = "by_type"
        }
    }

    public var scores: [TypeScore]
    public var statistics: Statistics

    /// - Parameters:
    ///   - annotated: the corpus's documents as the pipeline returned them.
    ///   - heads: gold type → the head that reports it (`Disease` → `disease`).
    public init(annotated: [Document], gold: LinkingCorpus, heads: [String: String]) {
        var predicted: [String: Set<String>] = [:], expected: [String: Set<String>] = [:]
        for mention in gold.mentions { if let head = heads[mention.type] { expected[head, default: []].insert("\(mention.document):\(mention.start):\(mention.end)") } }
        var statistics = Statistics()
        for document in annotated {
            let entities = document.documentEntities
            var typesBySpan: [String: Int] = [:]
            for entity in entities { typesBySpan["\(entity.start):\(entity.end)", default: 0] += 1 }
            for entity in entities {
                for type in [entity.type] + entity.otherTypes { predicted[type, default: []].insert("\(document.id):\(entity.start):\(entity.end)") }
                statistics.entities += 1
                statistics.byType[entity.type, default: 0] += 1
                if typesBySpan["\(entity.start):\(entity.end)"]! > 1 { statistics.sharedSpan += 1 }
                if !entity.otherTypes.isEmpty { statistics.severalTypes += 1 }
                let scalars = Array(entity.text.unicodeScalars)
                if !scalars.contains(where: EntityBoundaries.isWordScalar) { statistics.withoutLetterOrDigit += 1 }
                if let first = scalars.first, let last = scalars.last, EntityBoundaries.isPunctuation(first) || EntityBoundaries.isPunctuation(last) {
                    statistics.punctuationEdge += 1
                }
            }
            for passage in document.passages {
                let text = Array(passage.text.unicodeScalars)[...]
                for entity in passage.entities where EntityBoundaries.repaired(entity.start..<entity.end, in: text, type: entity.type) != entity.start..<entity.end {
                    statistics.fragment += 1
                }
            }
        }
        scores = Set(heads.values).sorted().map { head in
            let wanted = expected[head] ?? [], found = predicted[head] ?? []
            return TypeScore(goldTypes: heads.filter { $0.value == head }.map(\.key).sorted(), head: head, gold: wanted.count, predicted: found.count,
                             correct: wanted.intersection(found).count)
        }
        self.statistics = statistics
    }
}
