import Foundation
import Testing
import TestSupport
import Tokenization

/// Every line of the Hugging Face fixtures must come out identical: ids, tokens and offsets.
@Suite struct FixtureParityTests {
    func compare(tokenizer: WordPieceTokenizer, fixture: String) throws -> (total: Int, mismatches: [String]) {
        let lines = try TestPaths.jsonLines(fixture)
        var mismatches: [String] = []
        for line in lines {
            let text = line["text"] as! String
            let id = line["id"] as! String
            let expectedIds = (line["input_ids"] as! [NSNumber]).map { Int32(truncating: $0) }
            let expectedOffsets = (line["offsets"] as! [[NSNumber]]).map { Int(truncating: $0[0])..<Int(truncating: $0[1]) }
            let expectedTokens = line["tokens"] as! [String]
            let encoding = tokenizer.encode(text)
            if encoding.ids != expectedIds || encoding.offsets != expectedOffsets || encoding.tokens != expectedTokens {
                let first = zip(encoding.tokens.indices, zip(encoding.tokens, encoding.offsets)).first { index, pair in
                    index >= expectedTokens.count || pair.0 != expectedTokens[index] || pair.1 != expectedOffsets[index]
                }.map(\.0) ?? min(encoding.count, expectedTokens.count)
                let got = first < encoding.count ? "\(encoding.tokens[first]) \(encoding.offsets[first])" : "end"
                let want = first < expectedTokens.count ? "\(expectedTokens[first]) \(expectedOffsets[first])" : "end"
                mismatches.append("\(id): token \(first): got \(got), expected \(want)")
            }
        }
        return (lines.count, mismatches)
    }

    @Test func uncasedMiniLMVocabMatchesEveryLine() throws {
        let tokenizer = try WordPieceTokenizer.load(directory: TestPaths.minilm)
        let result = try compare(tokenizer: tokenizer, fixture: TestPaths.fixture("minilm/tokenization.jsonl"))
        #expect(result.total == 987)
        #expect(result.mismatches.isEmpty, "\(result.mismatches.count) lines differ: \(result.mismatches.prefix(10))")
    }

    @Test func uncasedFromVocabTxtMatchesTokenizerJSON() throws {
        let fromJSON = try WordPieceTokenizer.load(tokenizerJSON: TestPaths.minilm + "/tokenizer.json")
        let fromVocab = try WordPieceTokenizer(vocabulary: Vocabulary(contentsOf: TestPaths.minilm + "/vocab.txt"))
        let result = try compare(tokenizer: fromVocab, fixture: TestPaths.fixture("minilm/tokenization.jsonl"))
        #expect(result.mismatches.isEmpty, "\(result.mismatches.prefix(10))")
        #expect(fromJSON.vocabulary.tokens == fromVocab.vocabulary.tokens)
    }

    @Test(arguments: ["tokenizer.json", "vocab.txt"])
    func casedVocabMatchesEveryLine(source: String) throws {
        let directory = TestPaths.fixture("arch/cased-bert")
        let tokenizer = source == "tokenizer.json"
            ? try WordPieceTokenizer.load(tokenizerJSON: directory + "/tokenizer.json")
            : try WordPieceTokenizer.load(vocabTxt: directory + "/vocab.txt", config: directory + "/tokenizer_config.json")
        #expect(!tokenizer.normalizer.lowercase && !tokenizer.normalizer.stripAccents)
        let result = try compare(tokenizer: tokenizer, fixture: TestPaths.fixture("arch/cased_tokenization.jsonl"))
        #expect(result.total == 647)
        #expect(result.mismatches.isEmpty, "\(result.mismatches.count) lines differ: \(result.mismatches.prefix(10))")
    }
}
