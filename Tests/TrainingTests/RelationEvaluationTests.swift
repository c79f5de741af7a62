import Annotation
import Testing
import Training

struct RelationEvaluationTests {
    static func document(_ id: String, entities: [(String, [String])], relations: [(String, String)] = []) -> Document {
        var text = ""
        var found: [Entity] = []
        for (index, (type, ids)) in entities.enumerated() {
            let word = "w\(index)"
            found.append(Entity(type: type, start: text.count, end: text.count + word.count, text: word, concepts: ids.map { ConceptReference(id: $0, name: "") }))
            text += word + " "
        }
        return Document(id: id, passages: [Passage(text: text, entities: found)],
                        relations: relations.map { Relation(type: "CID", arguments: [.init(role: "chemical", concept: $0), .init(role: "disease", concept: $1)]) })
    }

    /// Pairs are counted once per document whatever the mentions, ids with or without `MESH:`;
    /// co-occurrence pairs every chemical concept with every disease concept; a composite
    /// mention's concepts each count; a document missing from the predictions predicts nothing.
    @Test func conceptPairsPerDocument() {
        let gold = [
            Self.document("1", entities: [("Chemical", ["D1"]), ("Disease", ["D2"]), ("Chemical", ["D1"]), ("Disease", ["D3", "D10"])],
                          relations: [("D1", "D2"), ("D1", "D3")]),
            Self.document("2", entities: [("Chemical", ["D4"]), ("Disease", ["D5", "D6"])], relations: [("D4", "D6")]),
            Self.document("3", entities: [("Chemical", ["D7"])], relations: [("D7", "D8")]),
        ]
        var predicted = [
            Self.document("1", entities: [("chemical", ["MESH:D1"]), ("disease", ["MESH:D2"]), ("disease", [])]),
            Self.document("2", entities: [("chemical", ["D4"]), ("disease", ["D5", "D6"]), ("gene", ["D9"])]),
        ]
        predicted[0].relations = [Relation(type: "CID", arguments: [.init(role: "chemical", concept: "MESH:D1"), .init(role: "disease", concept: "MESH:D2")]),
                                  Relation(type: "CID", arguments: [.init(role: "chemical", concept: "D1"), .init(role: "disease", concept: "D2")])]
        let evaluation = RelationEvaluation(gold: gold, predicted: predicted, type: "CID", roles: ("chemical", "disease"))
        #expect(evaluation.documents == 3 && evaluation.missing == 1)
        // Candidates: {D1-D2} in 1, {D4-D5, D4-D6} in 2: 2 of 4 gold pairs.
        #expect(evaluation.cooccurrence.gold == 4 && evaluation.cooccurrence.predicted == 3 && evaluation.cooccurrence.correct == 2)
        #expect(abs(evaluation.cooccurrence.recall - 0.5) < 1e-12 && abs(evaluation.cooccurrence.precision - 2.0 / 3.0) < 1e-12)
        // The two spellings of one pair are one prediction.
        let relations = try! #require(evaluation.relations)
        #expect(relations.predicted == 1 && relations.correct == 1 && relations.gold == 4)
        // Gold against itself: co-occurrence recall is the share of pairs whose concepts both occur.
        let own = RelationEvaluation(gold: gold, predicted: gold, type: "CID", roles: ("chemical", "disease"))
        #expect(own.cooccurrence.correct == 3 && own.relations?.f1 == 1)
    }
}
