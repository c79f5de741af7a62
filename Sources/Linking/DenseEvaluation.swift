import Foundation

/// Gold-span accuracy@1 when the mentions no exact stage links are ranked by a dense encoder's
/// cosine, alone or added to the 3-gram similarity (`score = dense + weight × ngram`, BioSyn's
/// combination of a dense and a sparse score): what a dense stage would buy, per weight.
public enum DenseEvaluation {
    public static func measure(_ linker: Linker, dictionary: ConceptDictionary, encoder: TermEncoder, corpus: LinkingCorpus,
                               weights: [Float]) throws -> [(weight: Float, atOne: Double)] {
        let terms = try DenseTerms(dictionary: dictionary, encoder: encoder)
        let mentions = corpus.mentions.filter { !$0.ids.isEmpty }
        var abbreviations: [String: Abbreviations] = [:]
        var queries: [String] = [], exact: [[LinkCandidate]?] = []
        for mention in mentions {
            let context = abbreviations[mention.document] ?? Abbreviations(text: corpus.texts[mention.document] ?? "")
            abbreviations[mention.document] = context
            let parts = linker.link(mention.text, abbreviations: context, top: 1)
            let decided = parts.first?.first.map { $0.stage != .ngram } ?? false
            exact.append(decided ? parts.compactMap(\.first) : nil)
            queries.append(context.expansion(of: mention.text) ?? mention.text)
        }
        let vectors = try encoder.embed(queries)
        var correct = [Int](repeating: 0, count: weights.count)
        for (position, mention) in mentions.enumerated() {
            let gold = Set(mention.ids)
            func right(_ concepts: [Int]) -> Bool {
                let found = concepts.map { Set(linker.index.ids(ofConcept: $0)) }
                return found.count == gold.count && found.allSatisfy { !$0.isDisjoint(with: gold) }
                    && gold.allSatisfy { id in found.contains { $0.contains(id) } }
            }
            if let decided = exact[position] {
                if right(decided.map(\.concept)) { for w in weights.indices { correct[w] += 1 } }
                continue
            }
            let dense = try terms.conceptScores(vectors[(position * encoder.width)..<((position + 1) * encoder.width)])
            var sparse: [Int: Float] = [:]
            for candidate in linker.index.similarConcepts(queries[position], count: 50) { sparse[candidate.concept] = candidate.score }
            for (w, weight) in weights.enumerated() {
                var best = (concept: -1, score: -Float.infinity)
                for (concept, score) in dense {
                    let total = score + weight * (sparse[concept] ?? 0)
                    if total > best.score || (total == best.score && concept < best.concept) { best = (concept, total) }
                }
                if best.concept >= 0, right([best.concept]) { correct[w] += 1 }
            }
        }
        return zip(weights, correct).map { ($0, Double($1) / Double(max(mentions.count, 1))) }
    }
}
