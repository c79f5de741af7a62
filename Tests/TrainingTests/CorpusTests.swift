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

@Suite struct NegativeLabelTests {
    static func task(_ name: String, _ text: String) throws -> TrainingTask {
        let sentences = try IOBReader.parse(text, file: "\(name).tsv")
        let encoded = EncodedCorpus(sentences: sentences, tokenizer: try CorpusTests.tokenizer(), maxLength: 32)
        return try TrainingTask(name: name, labels: labelSet(of: sentences), train: encoded, devel: nil)
    }

    /// Gene corpus sentences as the species head's negatives: a gene name is O unless it holds a
    /// species word, then it is unknown whole (-100), as are the words outside gene names.
    @Test func headWordsNestedInAnotherTypesEntityStayUnknown() throws {
        let species = try Self.task("species", """
            Human\tB-Species
            cells\tO

            in\tO
            human\tB-Species
            and\tO
            mice\tB-Species

            the\tO
            human\tO
            genome\tO

            mice\tB-Species
            """)
        // "human": 2 of 3 occurrences inside an entity; "mice": 2 of 2; "cells": never.
        #expect(species.entityWords(share: 0.5) == ["human", "mice"])
        #expect(species.entityWords(share: 0.9) == ["mice"])

        let gene = try Self.task("gene", "Human\tB-Gene\ninsulin\tI-Gene\nbinds\tO\nIGF1R\tB-Gene\nand\tO\nmouse\tI-Gene\nIgf1\tI-Gene\n")
        let window = gene.train.windows[0]
        let positions = window.firstPiece.map { $0! }
        let plain = gene.negativeLabels(window: 0, keeping: [])
        let kept = gene.negativeLabels(window: 0, keeping: species.entityWords(share: 0.5))
        #expect(positions.map { plain[$0] } == [0, 0, -100, 0, -100, 0, 0])
        // "mice" is a species word, "mouse" is not (never seen in the species corpus): only the
        // first gene name holds one. An I- after O opens an entity, as the lenient scorer reads it.
        #expect(positions.map { kept[$0] } == [-100, -100, -100, 0, -100, 0, 0])
        // Every other wordpiece ([CLS], [SEP], later pieces of a word) is ignored either way.
        for position in 0..<window.count where !positions.contains(position) {
            #expect(plain[position] == -100 && kept[position] == -100)
        }
    }
}
