import Annotation

/// Document-level concept F1, as PubTator-style normalization is scored (TaggerOne, Leaman and
/// Lu 2016): per document, the set of concept ids a head's linked entities name against the set
/// of gold ids; true positives, false positives and false negatives summed over documents. A
/// predicted concept matches a gold id by any of its ids (alternate ids included).
public struct ConceptF1: Sendable, Equatable, Codable {
    public var truePositives = 0
    public var falsePositives = 0
    public var falseNegatives = 0

    public init() {}

    public var precision: Double { Double(truePositives) / Double(max(truePositives + falsePositives, 1)) }
    public var recall: Double { Double(truePositives) / Double(max(truePositives + falseNegatives, 1)) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }

    /// Scores linked documents against the corpus's gold mentions.
    /// - Parameters:
    ///   - head: the head whose entities count (an entity merged from several heads counts for each).
    ///   - ids: every id of a concept id (its alternates), from the linker's index.
    public static func measure(_ documents: [Document], gold corpus: LinkingCorpus, head: String, ids: (String) -> [String]) -> ConceptF1 {
        var goldSets: [String: Set<String>] = [:]
        for mention in corpus.mentions { goldSets[mention.document, default: []].formUnion(mention.ids) }
        var score = ConceptF1()
        for document in documents {
            let gold = goldSets[document.id] ?? []
            var predicted = Set<String>()
            for entity in document.documentEntities where entity.type == head || entity.otherTypes.contains(head) {
                for concept in entity.concepts {
                    // Counted under the id the gold uses, when it uses one of the concept's ids.
                    predicted.insert(ids(concept.id).first(where: gold.contains) ?? concept.id)
                }
            }
            score.truePositives += predicted.intersection(gold).count
            score.falsePositives += predicted.subtracting(gold).count
            score.falseNegatives += gold.subtracting(predicted).count
        }
        return score
    }
}
