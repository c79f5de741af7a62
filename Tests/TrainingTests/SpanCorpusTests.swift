import Foundation
import Linking
import Testing
import TestSupport
import Tokenization
import Training

@Suite struct SpanCorpusTests {
    static let title = "T-PLL and breast cancer in mice."
    static let abstract = "Patients with T-PLL had no breast and ovarian cancer. The ATM gene (ATM) was mutated."

    /// A PubTator file of one document; each mention is given by its text and which occurrence
    /// in the document (title, a space, abstract), so the offsets are counted here, not by hand.
    static func pubtator(_ mentions: [(text: String, occurrence: Int, type: String)]) -> String {
        let document = title + " " + abstract
        var lines = ["9|t|\(title)", "9|a|\(abstract)"]
        for mention in mentions {
            var from = document.startIndex
            var found = document.range(of: mention.text)!
            for _ in 0..<mention.occurrence { from = found.upperBound; found = document.range(of: mention.text, range: from..<document.endIndex)! }
            let start = document.distance(from: document.startIndex, to: found.lowerBound)
            lines.append("9\t\(start)\t\(start + mention.text.count)\t\(mention.text)\t\(mention.type)\tD000001")
        }
        return lines.joined(separator: "\n") + "\n\n"
    }

    static func corpus(_ text: String) throws -> LinkingCorpus {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-span-\(getpid())-\(UUID().uuidString).pubtator").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try LinkingCorpus.load(path: path)
    }

    /// Words as BERT's pre-tokenizer cuts them (punctuation alone), labels written by hand: a
    /// mention covering part of a word ("mutat") takes the word; of two overlapping mentions the
    /// longer one that starts first keeps the words; other types are left out by the caller.
    @Test func sentencesAndLabelsFollowTheModelsWordBoundaries() throws {
        let corpus = try Self.corpus(Self.pubtator([
            ("T-PLL", 0, "Disease"), ("breast cancer", 0, "Disease"), ("mice", 0, "Species"), ("T-PLL", 1, "Disease"),
            ("breast and ovarian cancer", 0, "Disease"), ("ovarian cancer", 0, "Disease"), ("mutat", 0, "Disease"),
        ])).filter { $0.type == "Disease" }
        let tokenizer = try WordPieceTokenizer.load(directory: TestPaths.fixture("arch/cased-bert"))
        let (sentences, statistics) = SpanCorpus.sentences(of: corpus, label: "Disease", tokenizer: tokenizer)
        #expect(sentences.map(\.words) == [
            ["T", "-", "PLL", "and", "breast", "cancer", "in", "mice", "."],
            ["Patients", "with", "T", "-", "PLL", "had", "no", "breast", "and", "ovarian", "cancer", "."],
            ["The", "ATM", "gene", "(", "ATM", ")", "was", "mutated", "."],
        ])
        #expect(sentences.map(\.labels) == [
            ["B-Disease", "I-Disease", "I-Disease", "O", "B-Disease", "I-Disease", "O", "O", "O"],
            ["O", "O", "B-Disease", "I-Disease", "I-Disease", "O", "O", "B-Disease", "I-Disease", "I-Disease", "I-Disease", "O"],
            ["O", "O", "O", "O", "O", "O", "O", "B-Disease", "O"],
        ])
        #expect(statistics.documents == 1 && statistics.mentions == 6 && statistics.mentionsHidden == 1 && statistics.mentionsWithoutWords == 0)

        let withEntities = SpanCorpus.sentences(of: corpus.filter { $0.text != "mutat" }, label: "Disease", tokenizer: tokenizer, onlyWithEntities: true)
        #expect(withEntities.sentences.count == 2)
        // The IOB text reads back to the same sentences.
        let reread = try IOBReader.parse(SpanCorpus.iobText(sentences), file: "x.tsv")
        #expect(reread.map(\.words) == sentences.map(\.words) && reread.map(\.labels) == sentences.map(\.labels))
    }

    /// Extra sentences train their head but come after its own windows, which alone serve the
    /// other heads as negatives; an extra corpus of another type is refused with its path.
    @Test func extraCorporaFollowTheOwnCorpusAndMustShareItsTypes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-extra-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder + "/disease", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "colon\tB-Disease\ncancer\tI-Disease\n\nnone\tO\n\n".write(toFile: folder + "/disease/train.tsv", atomically: true, encoding: .utf8)
        try "asthma\tB-Disease\nagain\tO\n\n".write(toFile: folder + "/extra.tsv", atomically: true, encoding: .utf8)
        try "aspirin\tB-Chemical\n\n".write(toFile: folder + "/chemical.tsv", atomically: true, encoding: .utf8)
        let tokenizer = try WordPieceTokenizer.load(directory: TestPaths.fixture("arch/cased-bert"))
        let task = try TrainingTask.load(name: "disease", directory: folder, extra: [folder + "/extra.tsv"], tokenizer: tokenizer, maxLength: 32, develLimit: nil)
        #expect(task.train.sentences.map(\.words) == [["colon", "cancer"], ["none"], ["asthma", "again"]])
        #expect(task.ownWindows == 2 && task.train.windows.count == 3)
        #expect(task.labels == ["O", "B-Disease", "I-Disease"])
        #expect(throws: CorpusError(file: folder + "/chemical.tsv",
                                    reason: "label 'B-Chemical' is not one of task disease's labels O B-Disease I-Disease (write the corpus with `biotag corpus --label` set to its type)")) {
            try TrainingTask.load(name: "disease", directory: folder, extra: [folder + "/chemical.tsv"], tokenizer: tokenizer, maxLength: 32, develLimit: nil)
        }
    }
}
