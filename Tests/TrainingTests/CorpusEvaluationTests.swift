import Annotation
import Testing
import Training

/// Entities found in `words.joined(separator: " ")` read back as the corpus's word labels.
@Suite struct CorpusEvaluationTests {
    func entity(_ type: String, _ start: Int, _ end: Int) -> Entity {
        Entity(type: type, start: start, end: end, text: "", score: 1)
    }

    @Test func entitiesBecomeIOB2WordLabels() {
        let words = ["Mutant", "BRCA1", "causes", "breast", "cancer", "in", "IL-6", "mice"]
        // Offsets: Mutant 0-6, BRCA1 7-12, causes 13-19, breast 20-26, cancer 27-33, in 34-36, IL-6 37-41, mice 42-46.
        let same: (String) -> String = { $0 == "disease" ? "Disease" : $0 }
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [], labelType: same) == Array(repeating: "O", count: 8))
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [entity("disease", 20, 33), entity("Gene", 7, 12)], labelType: same)
                == ["O", "B-Gene", "O", "B-Disease", "I-Disease", "O", "O", "O"])
        // An entity that ends or starts inside a word labels the whole word.
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [entity("Gene", 37, 39)], labelType: same)
                == ["O", "O", "O", "O", "O", "O", "B-Gene", "O"])
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [entity("disease", 24, 30)], labelType: same)
                == ["O", "O", "O", "B-Disease", "I-Disease", "O", "O", "O"])
        // Two entities in one word: the first keeps it; adjacent entities stay apart.
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [entity("Gene", 37, 39), entity("Chemical", 40, 46)], labelType: same)
                == ["O", "O", "O", "O", "O", "O", "B-Gene", "B-Chemical"])
        #expect(CorpusEvaluation.wordLabels(words: words, entities: [entity("disease", 20, 26), entity("disease", 27, 33)], labelType: same)
                == ["O", "O", "O", "B-Disease", "B-Disease", "O", "O", "O"])
        // Offsets count Unicode scalars, as the annotator's do.
        #expect(CorpusEvaluation.wordLabels(words: ["TNF-α", "e\u{301}", "x"], entities: [entity("Gene", 9, 10)], labelType: same)
                == ["O", "O", "B-Gene"])
    }
}
