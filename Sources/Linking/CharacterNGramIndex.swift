import Foundation

/// TF-IDF over character 3-grams of normalized terms (the words in their order, a space around
/// each), cosine similarity, searched exactly through an inverted index: candidates for mentions
/// that no dictionary term matches exactly (`hepatic copper accumulation` → `copper overload`
/// stays out of reach; `nonpolyposis colorectal cancer` → `colorectal neoplasms, hereditary
/// nonpolyposis` is found).
public struct CharacterNGramIndex: Sendable {
    /// The concept of each indexed term.
    let termConcept: [Int32]
    /// Per 3-gram: the terms holding it and the gram's weight in each (L2-normalized TF-IDF).
    let postings: [UInt64: [(term: Int32, weight: Float)]]
    let idf: [UInt64: Float]

    /// - Parameter terms: every term with its concept index.
    public init(terms: [(text: String, concept: Int)]) {
        var counts: [[UInt64: Int]] = []
        var documentFrequency: [UInt64: Int] = [:]
        for term in terms {
            let grams = Self.grams(term.text)
            counts.append(grams)
            for gram in grams.keys { documentFrequency[gram, default: 0] += 1 }
        }
        let total = Float(max(terms.count, 1))
        let idf = documentFrequency.mapValues { logf(total / Float($0)) + 1 }
        var postings: [UInt64: [(term: Int32, weight: Float)]] = [:]
        for (index, grams) in counts.enumerated() {
            let weights = grams.map { ($0.key, Float($0.value) * idf[$0.key]!) }
            let norm = sqrtf(weights.reduce(0) { $0 + $1.1 * $1.1 })
            guard norm > 0 else { continue }
            for (gram, weight) in weights { postings[gram, default: []].append((Int32(index), weight / norm)) }
        }
        termConcept = terms.map { Int32($0.concept) }
        self.postings = postings
        self.idf = idf
    }

    /// The `count` best concepts for a mention with their cosine similarity (a concept scores as its
    /// best term), best first; ties go to the lower concept index, so the answer is deterministic.
    public func search(_ text: String, count: Int) -> [(concept: Int, score: Float)] {
        let grams = Self.grams(text)
        let weights = grams.compactMap { gram, n in idf[gram].map { (gram, Float(n) * $0) } }
        let norm = sqrtf(weights.reduce(0) { $0 + $1.1 * $1.1 })
        guard norm > 0 else { return [] }
        var scores: [Int32: Float] = [:]
        for (gram, weight) in weights {
            for posting in postings[gram] ?? [] { scores[posting.term, default: 0] += posting.weight * weight / norm }
        }
        var best: [Int32: Float] = [:]
        for (term, score) in scores {
            let concept = termConcept[Int(term)]
            if score > best[concept] ?? -1 { best[concept] = score }
        }
        return best.map { (Int($0.key), $0.value) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            .prefix(count).map { (concept: $0.0, score: $0.1) }
    }

    /// Counts of the 3-grams of ` w1 w2 … ` (normalized words in order), each packed into 63 bits.
    static func grams(_ text: String) -> [UInt64: Int] {
        let scalars = Array((" " + TermNormalizer.words(text).joined(separator: " ") + " ").unicodeScalars)
        guard scalars.count >= 3 else { return [:] }
        var counts: [UInt64: Int] = [:]
        for i in 0...(scalars.count - 3) {
            let gram = UInt64(scalars[i].value) << 42 | UInt64(scalars[i + 1].value) << 21 | UInt64(scalars[i + 2].value)
            counts[gram, default: 0] += 1
        }
        return counts
    }
}
