import Foundation
import Linking
import Testing

/// The linker's stages on a small hand-made dictionary, and the dictionary reader's refusals.
@Suite struct LinkingTests {
    static let dictionaryText = """
        MESH:D003924\tDiabetes Mellitus, Type 2\tType 2 diabetes|NIDDM|adult-onset diabetes mellitus\tOMIM:125853
        MESH:D020388\tMuscular Dystrophy, Duchenne\tDuchenne muscular dystrophy\tOMIM:310200
        MESH:D001943\tBreast Neoplasms\tbreast cancer|breast tumor|mammary carcinoma, human\t
        MESH:D009369\tNeoplasms\ttumor|cancer|neoplasia\t
        MESH:D015179\tColorectal Neoplasms\tcolorectal cancer|colorectal tumors\t
        MESH:D003550\tCystic Fibrosis\tmucoviscidosis\tOMIM:219700
        """

    static let dictionary = try! ConceptDictionary.parse(dictionaryText, file: "test.tsv")

    func top(_ mention: String, _ abbreviations: Abbreviations = Abbreviations(), stages: Set<LinkStage> = Set(LinkStage.allCases)) -> String? {
        try! Linker(dictionary: Self.dictionary, stages: stages).link(mention, abbreviations: abbreviations, top: 3).first?.first?.id
    }

    @Test func exactLookupIgnoresCaseWidthPunctuationPluralsAndOrder() {
        for mention in ["breast cancer", "Breast Cancers", "BREAST-CANCER", "cancer, breast", "ｂｒｅａｓｔ ｃａｎｃｅｒ", "breast tumors", "Bréast cancer"] {
            #expect(top(mention, stages: [.exact]) == "MESH:D001943", "\(mention)")
        }
        #expect(top("cystic fibrosis", stages: [.exact]) == "MESH:D003550")  // "fibrosis" keeps its s
        #expect(top("Neoplasms", stages: [.exact]) == "MESH:D009369")
        #expect(top("glioblastoma", stages: [.exact]) == nil)
    }

    @Test func abbreviationsAreResolvedWithinTheDocument() {
        let text = "Patients with Duchenne muscular dystrophy (DMD) and type 2 diabetes (T2D) were studied. DMD progressed."
        let abbreviations = Abbreviations(text: text)
        #expect(abbreviations.longForms["DMD"] == "Duchenne muscular dystrophy")
        #expect(abbreviations.longForms["T2D"] == "type 2 diabetes")
        #expect(top("DMD", abbreviations, stages: [.exact, .abbreviation]) == "MESH:D020388")
        #expect(top("DMD", stages: [.exact, .abbreviation]) == nil)
        // A parenthesis that is not an abbreviation defines nothing.
        #expect(Abbreviations(text: "Mice were fed (daily) and weighed (n = 12).").longForms.isEmpty)
    }

    @Test func characterNGramsFindNearMisses() {
        #expect(top("colorectal carcinomas") == "MESH:D015179")
        #expect(top("mammary carcinoma") == "MESH:D001943")
        #expect(top("Duchene muscular dystrophy") == "MESH:D020388")  // a misspelling
        let candidates = try! Linker(dictionary: Self.dictionary).linkWhole("breast cancer", top: 3)
        #expect(candidates.first?.stage == .exact && candidates.first?.score == 1)
        #expect(candidates.count == 3 && Set(candidates.map(\.id)).count == 3)
    }

    @Test func anyMentionGetsAnAnswerOrNone() {
        let linker = try! Linker(dictionary: Self.dictionary)
        for mention in ["", " ", "---", "()", "123", String(repeating: "a", count: 10_000), "乳腺癌", "рак", "😀"] {
            let candidates = linker.link(mention, top: 5)
            #expect(candidates.count <= 5)
            #expect(linker.link(mention, top: 5) == candidates)  // deterministic
        }
        #expect(linker.link("breast cancer", top: 0).isEmpty)
    }

    @Test func malformedDictionaryLinesAreRejectedWithTheirLine() {
        #expect(throws: DictionaryError(file: "d.tsv", line: 2, reason: "expected 4 tab-separated columns (id, name, synonyms, extras), found 2")) {
            try ConceptDictionary.parse("A:1\tone\t\t\nA:2\ttwo\n", file: "d.tsv")
        }
        #expect(throws: DictionaryError(file: "d.tsv", line: 2, reason: "concept A:1 is defined twice (first on line 1)")) {
            try ConceptDictionary.parse("A:1\tone\t\t\nA:1\tuno\t\t\n", file: "d.tsv")
        }
        #expect(throws: DictionaryError(file: "d.tsv", line: 1, reason: "concept A:1 has no name")) {
            try ConceptDictionary.parse("A:1\t\t\t\n", file: "d.tsv")
        }
        #expect(throws: DictionaryError(file: "d.tsv", line: nil, reason: "no concepts")) { try ConceptDictionary.parse("\n", file: "d.tsv") }
    }

    /// Gold ids may be a concept's alternate id (OMIM for a MeSH concept); training mentions
    /// become synonyms of their concept.
    @Test func accuracyCountsAlternateIdsAndTrainingMentionsHelp() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-linking-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = """
            1|t|Adult diabetes
            1|a|NIDDM and sugar disease were seen.
            1\t0\t14\tAdult diabetes\tSpecificDisease\tOMIM:125853
            1\t15\t20\tNIDDM\tSpecificDisease\tD003924
            1\t25\t38\tsugar disease\tSpecificDisease\tD003924

            """
        try corpus.write(toFile: "\(directory)/test.pubtator", atomically: true, encoding: .utf8)
        let gold = try LinkingCorpus.load(path: "\(directory)/test.pubtator")
        #expect(gold.mentions.map(\.ids) == [["OMIM:125853"], ["MESH:D003924"], ["MESH:D003924"]])
        #expect(gold.texts["1"] == "Adult diabetes NIDDM and sugar disease were seen.")
        let plain = LinkingAccuracy.measure(try! Linker(dictionary: Self.dictionary, stages: [.exact]), on: gold)
        #expect(plain.mentions == 3 && abs(plain.atOne - 1.0 / 3) < 1e-9)
        let train = """
            9|t|Sugar disease
            9|a|x
            9\t0\t13\tSugar disease\tSpecificDisease\tD003924

            """
        try train.write(toFile: "\(directory)/train.pubtator", atomically: true, encoding: .utf8)
        let augmented = Self.dictionary.addingSynonyms(from: [try LinkingCorpus.load(path: "\(directory)/train.pubtator")])
        #expect(LinkingAccuracy.measure(try! Linker(dictionary: augmented, stages: [.exact]), on: gold).atOne > plain.atOne)
    }
}
