import Foundation
import Models
import Tokenization

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

    /// One wordpiece: its sentence (numbered over the document) and its place in it.
    public struct Place: Sendable, Hashable {
        public var sentence: Int
        public var token: Int

        public init(sentence: Int, token: Int) {
            self.sentence = sentence
            self.token = token
        }
    }

    /// A mention's vector, the mean over the wordpieces that overlap `start..<end` of `passage`
    /// (`pieces`), and the sentence of its first wordpiece; nil when no wordpiece does.
    public func mention(passage: Int, start: Int, end: Int) -> (sentence: Int, vector: [Float], pieces: [Place])? {
        var pieces: [Place] = []
        for (index, sentence) in sentences.enumerated() where sentence.passage == passage {
            guard let last = sentence.offsets.last, let head = sentence.offsets.first, head.lowerBound < end, last.upperBound > start else { continue }
            for (t, offsets) in sentence.offsets.enumerated() where offsets.lowerBound < end && offsets.upperBound > start {
                pieces.append(Place(sentence: index, token: t))
            }
        }
        guard let first = pieces.first else { return nil }
        var sum = [Float](repeating: 0, count: width)
        for piece in pieces {
            let vectors = sentences[piece.sentence].vectors, base = piece.token * width
            for i in 0..<width { sum[i] += vectors[base + i] }
        }
        return (first.sentence, sum.map { $0 / Float(pieces.count) }, pieces)
    }
}

/// Relations between a document's linked concepts: the candidate pairs a relation head scores
/// (every concept of its first argument's types with every concept of its second's) and the
/// relations it finds among them.
public enum RelationExtraction {
    /// One candidate pair: the two concept ids, their mentions' vectors (and the wordpieces each
    /// is the mean of), the sentences (of the document's tokens) where both are named, and the
    /// pair's features.
    public struct Candidate: Sendable {
        public var first: String
        public var second: String
        public var firstMentions: [[Float]]
        public var secondMentions: [[Float]]
        public var sharedSentences: [Int]
        public var features: [Float]
        /// Per mention of `firstMentions` (`secondMentions`), its wordpieces: where a loss on the
        /// mentions flows back to the encoder when the encoder trains with the head.
        public var firstPieces: [[DocumentTokens.Place]]
        public var secondPieces: [[DocumentTokens.Place]]

        public init(first: String, second: String, firstMentions: [[Float]], secondMentions: [[Float]], sharedSentences: [Int], features: [Float],
                    firstPieces: [[DocumentTokens.Place]] = [], secondPieces: [[DocumentTokens.Place]] = []) {
            self.first = first; self.second = second; self.firstMentions = firstMentions; self.secondMentions = secondMentions
            self.sharedSentences = sharedSentences; self.features = features; self.firstPieces = firstPieces; self.secondPieces = secondPieces
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
        var concepts: [[String: (vectors: [[Float]], places: [MentionPlace], pieces: [[DocumentTokens.Place]])]] = [[:], [:]]
        for (p, passage) in document.passages.enumerated() {
            for entity in passage.entities {
                let entityTypes = ([entity.type] + entity.otherTypes).map { $0.lowercased() }
                let roles = types.indices.filter { role in entityTypes.contains { types[role].contains($0) } }
                let ids = entity.concepts.map(\.id).filter(isConcept)
                guard !roles.isEmpty, !ids.isEmpty, let mention = tokens.mention(passage: p, start: entity.start, end: entity.end) else { continue }
                for role in roles {
                    for (index, id) in ids.enumerated() where !ids[..<index].contains(id) {
                        concepts[role][id, default: ([], [], [])].vectors.append(mention.vector)
                        concepts[role][id, default: ([], [], [])].places.append(MentionPlace(sentence: mention.sentence, passage: p))
                        concepts[role][id, default: ([], [], [])].pieces.append(mention.pieces)
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
                                        features: RelationFeature.values(features, first: a.places, second: b.places, passages: document.passages.count),
                                        firstPieces: a.pieces, secondPieces: b.pieces))
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

extension DocumentTokens {
    /// A document cut into sentences and wordpieces as `Annotator` cuts it (the same sentences,
    /// numbered the same way), vectors still empty, and each sentence's wordpiece ids. A sentence
    /// of more than `maxPieces` wordpieces keeps its first `maxPieces` (the annotator would cut it
    /// into windows instead).
    public static func wordpieces(of document: Document, tokenizer: WordPieceTokenizer, width: Int, maxPieces: Int) -> (tokens: DocumentTokens, ids: [[Int32]]) {
        let splitter = SentenceSplitter()
        var tokens = DocumentTokens(width: width)
        var ids: [[Int32]] = []
        for (p, passage) in document.passages.enumerated() {
            let scalars = Array(passage.text.unicodeScalars)
            for range in splitter.split(scalars) {
                let encoding = tokenizer.encode(String(String.UnicodeScalarView(scalars[range])), addSpecialTokens: false)
                guard encoding.count > 0 else { continue }
                let kept = min(encoding.count, maxPieces)
                let shift = range.lowerBound
                tokens.sentences.append(Sentence(passage: p, offsets: encoding.offsets.prefix(kept).map { ($0.lowerBound + shift)..<($0.upperBound + shift) },
                                                 vectors: []))
                ids.append(Array(encoding.ids.prefix(kept)))
            }
        }
        return (tokens, ids)
    }
}
