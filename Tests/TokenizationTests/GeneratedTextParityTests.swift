import Foundation
import Testing
import TestSupport
import Tokenization

/// Hugging Face's encodings of thousands of generated strings must come out identical, ids and
/// offsets, for both vocabularies, loaded from tokenizer.json and from vocab.txt. The strings
/// (Tests/oracle/tokenizer_oracle.py) are random ones with a fixed seed, drawing on every Unicode
/// general category (scripts, combining sequences, controls, format characters, private use,
/// unassigned code points, fullwidth forms, CJK) mixed with ASCII words and whitespace of every
/// kind, and a sweep that puts every mark, punctuation, symbol, separator, control, format
/// character and every scalar that decomposes or lowercases in a few contexts.
@Suite struct GeneratedTextParityTests {
    struct Header: Decodable {
        let tokenizers: String
        let seed: Int
        let randomStrings: Int
        let sweepStrings: Int
        /// Vocabulary name → the tokenizer.json the oracle encoded with.
        let vocabularies: [String: String]
        enum CodingKeys: String, CodingKey {
            case tokenizers, seed, vocabularies, randomStrings = "random_strings", sweepStrings = "sweep_strings"
        }
    }

    struct Line: Decodable {
        let vocabulary: String
        let text: String
        let inputIds: [Int32]
        let offsets: [[Int]]
        enum CodingKeys: String, CodingKey { case vocabulary, text, inputIds = "input_ids", offsets }
    }

    struct OracleUnavailable: Error, CustomStringConvertible {
        let description: String
    }

    struct Oracle {
        let header: Header
        /// Each line with its line number in the file.
        let lines: [(number: Int, line: Line)]
    }

    /// Read once for all test cases.
    static let oracle = Result { try readOracle() }

    /// The oracle's header and lines; a missing or malformed file is an error that says how to make it.
    static func readOracle() throws -> Oracle {
        struct HeaderLine: Decodable { let header: Header }
        let path = TestPaths.tokenizerOracle
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OracleUnavailable(description: """
                \(path) is missing: run `make tokenizer-oracle` (it installs the pinned Hugging Face \
                tokenizers into .build/oracle-venv and runs Tests/oracle/tokenizer_oracle.py), or set \
                BIOTAG_TOKENIZER_ORACLE to a file that script wrote
                """)
        }
        let rows = data.split(separator: UInt8(ascii: "\n"))
        let decoder = JSONDecoder()
        guard let first = rows.first, let header = try? decoder.decode(HeaderLine.self, from: first).header else {
            throw OracleUnavailable(description: "\(path):1: expected the oracle's header line {\"header\": {...}}")
        }
        var lines: [(Int, Line)] = []
        for (index, row) in rows.enumerated().dropFirst() {
            do { lines.append((index + 1, try decoder.decode(Line.self, from: row))) } catch {
                throw OracleUnavailable(description: "\(path):\(index + 1): not an oracle line: \(error)")
            }
        }
        return Oracle(header: header, lines: lines)
    }

    /// The directory with each vocabulary's vocab.txt and tokenizer_config.json.
    static func vocabTxtDirectory(_ vocabulary: String) -> String? {
        switch vocabulary {
        case "uncased": TestPaths.repository.appendingPathComponent("models/bioner-minilm-8").path
        case "cased": TestPaths.fixture("arch/cased-bert")
        default: nil
        }
    }

    @Test(arguments: ["uncased", "cased"], ["tokenizer.json", "vocab.txt"])
    func everyGeneratedStringMatches(vocabulary: String, source: String) throws {
        let oracle = try Self.oracle.get()
        let header = oracle.header
        let json = try #require(header.vocabularies[vocabulary], "the oracle has no '\(vocabulary)' vocabulary")
        let directory = try #require(Self.vocabTxtDirectory(vocabulary))
        let tokenizer = source == "tokenizer.json"
            ? try WordPieceTokenizer.load(tokenizerJSON: json)
            : try WordPieceTokenizer.load(vocabTxt: directory + "/vocab.txt", config: directory + "/tokenizer_config.json")

        var total = 0
        var differing = 0
        var firstMismatches: [String] = []
        for (number, line) in oracle.lines where line.vocabulary == vocabulary {
            total += 1
            let encoding = tokenizer.encode(line.text)
            let offsets = encoding.offsets.map { [$0.lowerBound, $0.upperBound] }
            if encoding.ids == line.inputIds && offsets == line.offsets { continue }
            differing += 1
            if firstMismatches.count < 5 {
                firstMismatches.append(Self.describe(encoding, expected: line, lineNumber: number, tokenizer: tokenizer))
            }
        }
        let expected = header.randomStrings + header.sweepStrings
        #expect(total == expected && total > 0, "\(TestPaths.tokenizerOracle) has \(total) '\(vocabulary)' lines, its header says \(expected)")
        #expect(differing == 0, """
            \(differing) of \(total) strings differ from tokenizers \(header.tokenizers) (seed \(header.seed)):
            \(firstMismatches.joined(separator: "\n"))
            """)
    }

    /// The first token that differs, both ways, and the code points of the text around it.
    static func describe(_ encoding: Encoding, expected line: Line, lineNumber: Int, tokenizer: WordPieceTokenizer) -> String {
        let offsets = encoding.offsets.map { [$0.lowerBound, $0.upperBound] }
        let count = max(encoding.count, line.inputIds.count)
        let index = (0..<count).first { i in
            i >= encoding.count || i >= line.inputIds.count || i >= line.offsets.count
                || encoding.ids[i] != line.inputIds[i] || offsets[i] != line.offsets[i]
        } ?? count
        func token(_ id: Int32) -> String {
            id >= 0 && Int(id) < tokenizer.vocabulary.count ? tokenizer.vocabulary.tokens[Int(id)] : "?"
        }
        func describeToken(_ ids: [Int32], _ offsets: [[Int]]) -> String {
            index < ids.count && index < offsets.count ? "\(ids[index]) \(token(ids[index])) \(offsets[index])" : "nothing"
        }
        let scalars = Array(line.text.unicodeScalars)
        let bounds = [offsets, line.offsets].flatMap { $0.indices.contains(index) ? $0[index] : [] }
        let low = max(0, (bounds.min() ?? 0) - 2)
        let high = min(scalars.count, (bounds.max() ?? 0) + 2)
        let around = (low..<max(low, high)).map { "\($0):U+\(String(scalars[$0].value, radix: 16, uppercase: true))" }
        return "line \(lineNumber), token \(index): got \(describeToken(encoding.ids, offsets)), "
            + "expected \(describeToken(line.inputIds, line.offsets)); text around: \(around.joined(separator: " "))"
    }
}
