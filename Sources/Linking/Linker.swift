import Foundation

/// One candidate concept for a mention.
public struct LinkCandidate: Sendable, Equatable {
    public let id: String
    public let name: String
    /// 1 for an exact match of a normalized term; the cosine similarity of character 3-grams
    /// otherwise.
    public let score: Float
    public let stage: LinkStage
    /// Index into the dictionary's concepts.
    public let concept: Int
}

/// Which step of the linker proposed a candidate.
public enum LinkStage: String, Sendable, Codable, CaseIterable {
    /// A dictionary term equal to the mention once normalized (case, punctuation, plural, order).
    case exact
    /// The same, after a short form was replaced by the long form the document defines.
    case abbreviation
    /// Character 3-gram TF-IDF similarity.
    case ngram
}

/// Links mentions of one entity type to the concepts of its dictionary: normalized exact lookup,
/// abbreviations resolved within the document, then character 3-gram TF-IDF candidates. The
/// answer depends on the mention, its document and the dictionary only (ties broken by the
/// dictionary's order), so the same input always gives the same ids.
public struct Linker: Sendable {
    public let dictionary: ConceptDictionary
    /// Which stages run (all by default), for measuring each one's gain.
    public let stages: Set<LinkStage>
    private let exact: [String: [Int32]]
    private let ngrams: CharacterNGramIndex?

    public init(dictionary: ConceptDictionary, stages: Set<LinkStage> = Set(LinkStage.allCases)) {
        self.dictionary = dictionary
        self.stages = stages
        // Concepts whose preferred name gives a key come before those with a synonym giving it,
        // each in dictionary order.
        var byName: [String: [Int32]] = [:], bySynonym: [String: [Int32]] = [:]
        var terms: [(text: String, concept: Int)] = []
        for (index, concept) in dictionary.concepts.enumerated() {
            for (position, term) in ([concept.name] + concept.synonyms).enumerated() {
                let key = TermNormalizer.key(term)
                guard !key.isEmpty else { continue }
                if position == 0 { byName[key, default: []].append(Int32(index)) } else { bySynonym[key, default: []].append(Int32(index)) }
                terms.append((term, index))
            }
        }
        exact = byName.merging(bySynonym) { $0 + $1 }.mapValues { Self.unique($0) }
        ngrams = stages.contains(.ngram) ? CharacterNGramIndex(terms: terms) : nil
    }

    /// The best `top` concepts for a mention, best first.
    /// - Parameter abbreviations: the mention's document's abbreviations (`Abbreviations(text:)`).
    public func link(_ mention: String, abbreviations: Abbreviations = Abbreviations(), top: Int = 5) -> [LinkCandidate] {
        guard top > 0, mention.count <= 1_000 else { return [] }
        var result: [LinkCandidate] = []
        func add(_ concepts: [Int32], _ stage: LinkStage, score: Float) {
            for index in concepts where result.count < top && !result.contains(where: { $0.concept == Int(index) }) {
                let concept = dictionary.concepts[Int(index)]
                result.append(LinkCandidate(id: concept.id, name: concept.name, score: score, stage: stage, concept: Int(index)))
            }
        }
        var text = mention
        if stages.contains(.exact) { add(exact[TermNormalizer.key(mention)] ?? [], .exact, score: 1) }
        if stages.contains(.abbreviation), let long = abbreviations.longForms[mention.trimmingCharacters(in: .whitespaces)] {
            text = long
            if result.isEmpty { add(exact[TermNormalizer.key(long)] ?? [], .abbreviation, score: 1) }
        }
        if let ngrams, result.count < top {
            for candidate in ngrams.search(text, count: top) { add([Int32(candidate.concept)], .ngram, score: candidate.score) }
        }
        return result
    }

    private static func unique(_ values: [Int32]) -> [Int32] {
        var seen = Set<Int32>()
        return values.filter { seen.insert($0).inserted }
    }
}
