import Foundation
import Models
import Testing
import TestSupport
import Training

/// One line of shared/fixtures/seqeval/cases.jsonl: label sequences and what seqeval 1.2.2 computed.
private struct SeqevalCase: Decodable {
    struct Micro: Decodable { let precision, recall, f1: Double }
    struct PerType: Decodable {
        let precision, recall, f1: Double
        let support: Int
        enum CodingKeys: String, CodingKey { case precision, recall, f1 = "f1-score", support }
    }
    /// `[type, start, end]` with `end` inclusive, as `get_entities` returns it.
    struct Entity: Decodable {
        let chunk: Chunk
        init(from decoder: any Decoder) throws {
            var fields = try decoder.unkeyedContainer()
            let type = try fields.decode(String.self), start = try fields.decode(Int.self)
            chunk = Chunk(type: type, start: start, end: try fields.decode(Int.self) + 1)
        }
    }
    struct Expected: Decodable {
        let micro: Micro
        let perType: [String: PerType]
        let entitiesTrue: [[Entity]]?
        enum CodingKeys: String, CodingKey { case micro, perType = "per_type", entitiesTrue = "entities_true" }
    }

    let id: String
    let gold, predicted: [[String]]
    let lenient, strict: Expected
    enum CodingKeys: String, CodingKey { case id, gold = "y_true", predicted = "y_pred", lenient = "default", strict }

    static func load() throws -> [SeqevalCase] {
        let text = try String(contentsOfFile: TestPaths.fixture("seqeval/cases.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(SeqevalCase.self, from: Data($0.utf8)) }
    }
}


/// Naive IOB2 check: every `I-X` follows `B-X` or `I-X`.
private func isValidIOB2(_ labels: [String]) -> Bool {
    labels.indices.allSatisfy { index in
        guard labels[index].hasPrefix("I-") else { return true }
        let type = labels[index].dropFirst(2)
        return index > 0 && (labels[index - 1] == "B-\(type)" || labels[index - 1] == "I-\(type)")
    }
}

@Suite struct SeqevalTests {
    /// Every fixture case to 1e-9 in both modes, and the lenient entities of every gold sentence.
    @Test func reproducesSeqevalFixtures() throws {
        let cases = try SeqevalCase.load()
        #expect(cases.count == 300)
        for mode in [SeqevalMode.lenient, .strict] {
            var matched = 0
            for fixture in cases {
                let expected = mode == .lenient ? fixture.lenient : fixture.strict
                let report = try SeqevalReport.evaluate(gold: fixture.gold, predicted: fixture.predicted, mode: mode)
                var same = abs(report.micro.precision - expected.micro.precision) <= 1e-9
                    && abs(report.micro.recall - expected.micro.recall) <= 1e-9
                    && abs(report.micro.f1 - expected.micro.f1) <= 1e-9
                    && Set(report.perType.keys) == Set(expected.perType.keys)
                for (type, score) in expected.perType {
                    guard let actual = report.perType[type] else { continue }
                    same = same && abs(actual.precision - score.precision) <= 1e-9 && abs(actual.recall - score.recall) <= 1e-9
                        && abs(actual.f1 - score.f1) <= 1e-9 && actual.support == score.support
                }
                if let entities = expected.entitiesTrue {
                    same = same && fixture.gold.map { chunks($0, mode: mode) } == entities.map { $0.map(\.chunk) }
                }
                #expect(same, "\(fixture.id) (\(mode)): got \(report.micro) \(report.perType)")
                if same { matched += 1 }
            }
            #expect(matched == cases.count, "\(mode)")
        }
    }

    /// Readings that follow from seqeval's rules, one rule per sequence.
    @Test func chunkRules() {
        func lenient(_ labels: [String]) -> [Chunk] { chunks(labels, mode: .lenient) }
        func strict(_ labels: [String]) -> [Chunk] { chunks(labels, mode: .strict) }
        #expect(lenient(["B-PER", "I-PER", "O", "B-LOC"]) == [Chunk(type: "PER", start: 0, end: 2), Chunk(type: "LOC", start: 3, end: 4)])
        // A stray I- opens an entity; a type switch splits one.
        #expect(lenient(["O", "I-A", "I-A", "I-B"]) == [Chunk(type: "A", start: 1, end: 3), Chunk(type: "B", start: 3, end: 4)])
        #expect(strict(["O", "I-A", "I-A", "I-B"]) == [])
        #expect(strict(["B-A", "I-A", "I-B", "B-B"]) == [Chunk(type: "A", start: 0, end: 2), Chunk(type: "B", start: 3, end: 4)])
        // E- closes, S- is a one-word entity, in the lenient reader.
        #expect(lenient(["B-A", "E-A", "S-A", "I-A"]) == [Chunk(type: "A", start: 0, end: 2), Chunk(type: "A", start: 2, end: 3), Chunk(type: "A", start: 3, end: 4)])
        // Labels without a type have type "_".
        #expect(lenient(["B", "I", "O"]) == [Chunk(type: "_", start: 0, end: 2)])
        #expect(lenient(["E-A", ".-A", "I-A"]) == [Chunk(type: "A", start: 0, end: 1), Chunk(type: "A", start: 0, end: 3)])
        #expect(strict(["B", "I", "O"]) == [Chunk(type: "_", start: 0, end: 2)])
    }

    @Test func entitiesOfDifferentSentencesNeverMatch() throws {
        let report = try SeqevalReport.evaluate(gold: [["B-A"], ["O"]], predicted: [["O"], ["B-A"]], mode: .lenient)
        #expect(report.counts["A"] == EntityCounts(truePositives: 0, predicted: 1, gold: 1))
        #expect(report.micro.f1 == 0)
        let onlyPredicted = try SeqevalReport.evaluate(gold: [["O"]], predicted: [["B-A"]], mode: .strict)
        #expect(onlyPredicted.perType["A"]?.support == 0)
    }

    @Test func accumulatorEqualsEvaluate() throws {
        let gold = [["B-A", "I-A", "O"], ["I-B", "O"]], predicted = [["B-A", "I-A", "B-B"], ["B-B", "O"]]
        for mode in [SeqevalMode.lenient, .strict] {
            var accumulator = SeqevalAccumulator(mode: mode)
            for (gold, predicted) in zip(gold, predicted) { try accumulator.add(gold: gold, predicted: predicted) }
            let report = try SeqevalReport.evaluate(gold: gold, predicted: predicted, mode: mode)
            #expect(accumulator.report.counts == report.counts && accumulator.report.micro == report.micro)
        }
    }

    @Test func mismatchedInputIsATypedError() {
        #expect(throws: SeqevalError.lengthMismatch(sentence: 1, gold: 2, predicted: 1)) {
            try SeqevalReport.evaluate(gold: [["O"], ["O", "O"]], predicted: [["O"], ["O"]], mode: .lenient)
        }
        #expect(throws: SeqevalError.sentenceCountMismatch(gold: 2, predicted: 1)) {
            try SeqevalReport.evaluate(gold: [["O"], ["O"]], predicted: [["O"]], mode: .lenient)
        }
        #expect(throws: SeqevalError.invalidLabel("E-A", sentence: 0, word: 1)) {
            try SeqevalReport.evaluate(gold: [["B-A", "E-A"]], predicted: [["O", "O"]], mode: .strict)
        }
        #expect(SeqevalError.lengthMismatch(sentence: 1, gold: 2, predicted: 1).description.contains("sentence 1"))
    }

    /// Random log-probabilities: the path is valid IOB2, scores as well as the best valid path of
    /// a brute-force search, and is the argmax whenever that is valid.
    @Test func viterbiDecodesValidBestPaths() {
        var random = SplitMix64(seed: 11)
        let labels = ["I-Chemical", "O", "B-Disease", "I-Disease", "B-Chemical", "X"]
        func logSoftmax(_ logits: [Float]) -> [Float] {
            let top = logits.max()!, sum = logits.reduce(0) { $0 + exp($1 - top) }
            return logits.map { $0 - top - log(sum) }
        }
        var argmaxValid = 0
        for trial in 0..<2000 {
            let words = Int.random(in: 0...(trial < 400 ? 4 : 20), using: &random)
            let sharpness = Float.random(in: 0.5...8, using: &random)
            let scores = (0..<words).map { _ in
                logSoftmax(labels.map { _ in Float.random(in: -sharpness...sharpness, using: &random) })
            }
            let path = viterbiDecode(scores: scores, labels: labels)
            #expect(path.count == words && isValidIOB2(path.map { labels[$0] }))
            let argmax = scores.map { row in row.indices.max { row[$0] < row[$1] }! }
            if isValidIOB2(argmax.map { labels[$0] }) {
                argmaxValid += 1
                #expect(path == argmax)
            }
            guard trial < 400 else { continue }
            func total(_ path: [Int]) -> Double { zip(scores, path).reduce(0) { $0 + Double($1.0[$1.1]) } }
            var best = -Double.infinity
            var candidate = [Int](repeating: 0, count: words)
            func search(_ word: Int) {
                guard word < words else {
                    if isValidIOB2(candidate.map { labels[$0] }) { best = max(best, total(candidate)) }
                    return
                }
                for label in labels.indices {
                    candidate[word] = label
                    search(word + 1)
                }
            }
            search(0)
            if words > 0 { #expect(abs(total(path) - best) <= 1e-9) }
        }
        #expect(argmaxValid > 200)
        #expect(viterbiDecode(scores: [], labels: labels) == [])
    }
}
