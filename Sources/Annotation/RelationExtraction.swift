import Foundation
import Models

/// What one encoder pass leaves of a document for its relation heads: every sentence's
/// wordpieces, their offsets into the passage, and one vector per wordpiece (`width` values: a
/// relation head's projection, or the hidden state a head is trained on).
public struct DocumentTokens: Sendable {
    public struct Sentence: Sendable {
        public var passage: Int
        /// Unicode scalar offsets into the passage.
        public var offsets: [Range<Int>]
        /// `[offsets.count, width]`.
        public var vectors: [Float]

        public init(passage: Int, offsets: [Range<Int>], vectors: [Float]) {
            self.passage = passage
            self.offsets = offsets
            self.vectors = vectors
        }
    }

    public var width: Int
    /// In document order, numbered over all passages.
    public var sentences: [Sentence] = []

    public init(width: Int, sentences: [Sentence] = []) {
        self.width = width
        self.sentences = sentences
    }

    /// The vectors of every wordpiece of these sentences.
    public func rows(of sentences: [Int]) -> [[Float]] {
        sentences.flatMap { index in
            let vectors = self.sentences[index].vectors
            return (0..<(vectors.count / Swift.max(1, width))).map { Array(vectors[($0 * width)..<(($0 + 1) * width)]) }
        }
    }

    /// A mention's vector, the mean over the wordpieces that overlap `start..<end` of `passage`,
    /// and the sentence of its first wordpiece; nil when no wordpiece does.
    public func mention(passage: Int, start: Int, end: Int) -> (sentence: Int, vector: [Float])? {
        var sum = [Float](repeating: 0, count: width)
        var count = 0
        var first: Int?
        for (index, sentence) in sentences.enumerated() where sentence.passage == passage {
            guard let last = sentence.offsets.last, let head = sentence.offsets.first, head.lowerBound < end, last.upperBound > start else { continue }
            for (t, offsets) in sentence.offsets.enumerated() where offsets.lowerBound < end && offsets.upperBound > start {
                let base = t * width
                for i in 0..<width { sum[i] += sentence.vectors[base + i] }
                count += 1
                if first == nil { first = index }
            }
        }
        guard let first, count > 0 else { return nil }
        return (first, sum.map { $0 / Float(count) })
    }
}

/// Relations between a document's linked concepts: the candidate pairs a relation head scores
/// (every concept of its first argument's types with every concept of its second's) and the
/// relations it finds among them.
public enum RelationExtraction {
    /// One candidate pair: the two concept ids, their mentions' vectors, the sentences (of the
    /// document's tokens) where both are named, and the pair's features.
    public struct Candidate: Sendable {
        public var first: String
        public var second: String
        public var firstMentions: [[Float]]
        public var secondMentions: [[Float]]
        public var sharedSentences: [Int]
        public var features: [Float]

        public init(first: String, second: String, firstMentions: [[Float]], secondMentions: [[Float]], sharedSentences: [Int], features: [Float]) {
            self.first = first; self.second = second; self.firstMentions = firstMentions; self.secondMentions = secondMentions
            self.sharedSentences = sharedSentences; self.features = features
        }
    }

    /// Ids that name no concept (PubTator's `-1` for a mention without one).
    static func isConcept(_ id: String) -> Bool { !id.isEmpty && id != "-1" }

    /// The candidate pairs of `document` for a relation of `arguments`, sorted by their ids. An
    /// entity fills an argument when its type or one of its other types is one of the
    /// argument's (case folded); each of its concepts gets the mention.
    public static func candidates(in document: Document, tokens: DocumentTokens, arguments: [RelationArgument], features: [RelationFeature]) -> [Candidate] {
        precondition(arguments.count == 2, "a relation has two arguments")
        let types = arguments.map { Set($0.types.map { $0.lowercased() }) }
        var concepts: [[String: (vectors: [[Float]], places: [MentionPlace])]] = [[:], [:]]
        for (p, passage) in document.passages.enumerated() {
            for entity in passage.entities {
                let entityTypes = ([entity.type] + entity.otherTypes).map { $0.lowercased() }
                let roles = types.indices.filter { role in entityTypes.contains { types[role].contains($0) } }
                let ids = entity.concepts.map(\.id).filter(isConcept)
                guard !roles.isEmpty, !ids.isEmpty, let mention = tokens.mention(passage: p, start: entity.start, end: entity.end) else { continue }
                for role in roles {
                    for (index, id) in ids.enumerated() where !ids[..<index].contains(id) {
                        concepts[role][id, default: ([], [])].vectors.append(mention.vector)
                        concepts[role][id, default: ([], [])].places.append(MentionPlace(sentence: mention.sentence, passage: p))
                    }
                }
            }
        }
        var result: [Candidate] = []
        for first in concepts[0].keys.sorted() {
            for second in concepts[1].keys.sorted() where !Relation.sameConcept(first, second) {
                let a = concepts[0][first]!, b = concepts[1][second]!
                let shared = Set(a.places.map(\.sentence)).intersection(b.places.map(\.sentence)).sorted()
                result.append(Candidate(first: first, second: second, firstMentions: a.vectors, secondMentions: b.vectors, sharedSentences: shared,
                                        features: RelationFeature.values(features, first: a.places, second: b.places, passages: document.passages.count)))
            }
        }
        return result
    }

    /// The relations `head` finds in `document`, whose `tokens` hold the head's projections.
    public static func relations(in document: Document, tokens: DocumentTokens, head: RelationHead) -> [Relation] {
        let width = head.width
        return candidates(in: document, tokens: tokens, arguments: head.arguments, features: head.features).compactMap { pair in
            let context = RelationHead.pooled(tokens.rows(of: pair.sharedSentences), width: width)
            let probability = head.probability(first: RelationHead.pooled(pair.firstMentions, width: width),
                                               second: RelationHead.pooled(pair.secondMentions, width: width), context: context, features: pair.features)
            guard probability >= head.threshold else { return nil }
            return Relation(type: head.type, arguments: [Relation.Argument(role: head.arguments[0].role, concept: pair.first),
                                                         Relation.Argument(role: head.arguments[1].role, concept: pair.second)],
                            score: (probability * 10_000).rounded() / 10_000)
        }
    }
}
