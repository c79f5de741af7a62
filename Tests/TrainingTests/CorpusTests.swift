import Foundation
import Models
import Testing
import TestSupport
import Tokenization
import Training

@Suite struct CorpusTests {
    static func tokenizer() throws -> WordPieceTokenizer { try WordPieceTokenizer.load(directory: TestPaths.fixture("arch/cased-bert")) }

    @Test func readsTabAndColumnFilesSkippingDocstart() throws {
        let text = "-DOCSTART-\tO\n\nIdentification\tO\nof\tO\nAPC2\tB-GENE\n\r\nThe NN O\ncolon NN B-Disease\ncancer NN I-Disease\n\n\n"
        let sentences = try IOBReader.parse(text, file: "x.tsv")
        #expect(sentences == [
            LabelledSentence(words: ["Identification", "of", "APC2"], labels: ["O", "O", "B-GENE"], line: 3),
            LabelledSentence(words: ["The", "colon", "cancer"], labels: ["O", "B-Disease", "I-Disease"], line: 7),
        ])
        #expect(labelSet(of: sentences) == ["O", "B-Disease", "I-Disease", "B-GENE", "I-GENE"])
    }

    @Test func malformedLinesNameFileAndLine() throws {
        #expect(throws: CorpusError(file: "bad.tsv", line: 2, reason: "expected a token and a label separated by a tab, found 'lonely'")) {
            try IOBReader.parse("fine\tO\nlonely\n", file: "bad.tsv")
        }
        #expect(throws: CorpusError(file: "bad.tsv", line: 3, reason: "label 'X-Disease' is not O, B-<type> or I-<type>")) {
            try IOBReader.parse("a\tO\n\nb\tX-Disease\n", file: "bad.tsv")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-invalid-\(getpid()).tsv").path
        _ = FileManager.default.createFile(atPath: path, contents: Data([0x61, 0x09, 0x4F, 0x0A, 0xFF, 0xFE, 0x09, 0x4F]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: CorpusError(file: path, reason: "not valid UTF-8")) { try IOBReader.read(path: path) }
    }

    /// Long sentences become several windows covering every word once, in order, each within
    /// the limit; the first wordpiece of each word carries its label.
    @Test func longSentencesAreWindowedNeverDropped() throws {
        let tokenizer = try Self.tokenizer()
        var generator = SplitMix64(seed: 5)
        let vocabulary = ["Identification", "of", "adenomatous", "polyposis", "coli", "tumour", "suppressor", "protein", "(", "APC", ")", "xylophonically"]
        var sentences: [LabelledSentence] = []
        for length in [1, 5, 40, 200, 700] {
            let words = (0..<length).map { _ in vocabulary[Int(generator.next() % UInt64(vocabulary.count))] }
            let labels = words.indices.map { ["O", "B-Disease", "I-Disease"][$0 % 3] }
            sentences.append(LabelledSentence(words: words, labels: labels, line: 1))
        }
        let long = String(repeating: "a", count: 300)
        sentences.append(LabelledSentence(words: ["x", long, "y"], labels: ["O", "B-Disease", "O"], line: 1))
        for maxLength in [8, 32, 128] {
            let corpus = EncodedCorpus(sentences: sentences, tokenizer: tokenizer, maxLength: maxLength)
            for (index, sentence) in sentences.enumerated() {
                let windows = corpus.windows.filter { $0.sentence == index }
                #expect(windows.map(\.words.lowerBound) == [0] + windows.dropLast().map(\.words.upperBound))
                #expect(windows.last?.words.upperBound == sentence.words.count)
                for window in windows {
                    #expect(window.count <= maxLength)
                    #expect(window.ids.first == tokenizer.clsId && window.ids.last == tokenizer.sepId)
                    let labels = try corpus.labelIds(of: window, map: ["O": 0, "B-Disease": 1, "I-Disease": 2])
                    for (offset, piece) in window.firstPiece.enumerated() {
                        let expected: Int32 = ["O": 0, "B-Disease": 1, "I-Disease": 2][sentence.labels[window.words.lowerBound + offset]]!
                        #expect(piece.map { labels[$0] } == expected)
                    }
                    #expect(labels.filter { $0 != -100 }.count == window.firstPiece.compactMap { $0 }.count)
                }
            }
        }
    }
}
