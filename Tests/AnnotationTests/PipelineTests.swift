import Annotation
import Foundation
import Models
import Testing
import TestSupport

/// Annotators over the two-head test model of TestSupport.
enum TestModel {
    static func annotator(workers: Int = 1, _ configure: (inout AnnotationSettings) -> Void = { _ in }) throws -> Annotator {
        var settings = AnnotationSettings()
        configure(&settings)
        return try Annotator(model: try MultiTaskModel(directory: TestModels.twoHeads), settings: settings, threads: 1, workers: workers)
    }
}

/// Texts of every kind of Unicode: letters of several scripts, combining marks, emoji with
/// joiners, control characters, whitespace runs, very long words, sentence ends.
enum GeneratedText {
    static let pieces: [String] = [
        "the", "patients", "with", "breast", "cancer", "received", "tamoxifen", "IL-6", "TNF-α", "β-catenin", "p53", "E. coli", "Fig. 2",
        "e.g.", "Ca2+", "(n = 12)", "café", "naïve", "e\u{301}", "Å", "ﬁbrosis", "細胞", "癌症", "мышь", "Ωmega", "😀", "👩‍🔬", "🇫🇷", "\u{200B}", "\u{0007}",
        "\u{0000}", "\u{00AD}", "\u{FEFF}", "[CLS]", "[SEP]", ".", "!", "?", ",", ";", "—", "\"", "’", "10.5%", "Smith J.", "al.",
    ]
    static let spaces = [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", " \u{00A0}", "\u{3000}", ". ", ". The ", "! ", "? New "]

    static func make(seed: UInt64, length: Int) -> String {
        var generator = SplitMix64(seed: seed)
        var text = ""
        var count = 0
        while count < length {
            let roll = generator.next() % 100
            let piece: String
            if roll < 2 {
                piece = String(repeating: "x", count: Int(generator.next() % 400) + 100)  // a very long word
            } else if roll < 60 {
                piece = pieces[Int(generator.next() % UInt64(pieces.count))]
            } else {
                piece = spaces[Int(generator.next() % UInt64(spaces.count))]
            }
            text += piece
            count += piece.unicodeScalars.count
        }
        return text
    }
}

@Suite struct PipelineTests {
    /// Every entity's offsets slice its passage to exactly its text, over thousands of texts of
    /// 1 to 20,000 scalars, with long sentences cut into small windows.
    @Test func offsetsAlwaysSliceTheText() throws {
        let annotator = try TestModel.annotator { $0.maxLength = 24; $0.stride = 6; $0.tokenBudget = 2048 }
        defer { annotator.shutdown() }
        var lengths = (1...2400).map { 1 + ($0 * 7919) % 300 }
        lengths += [1000, 5000, 12_000, 20_000]
        var documents = lengths.enumerated().map { index, length in Document(id: "d\(index)", text: GeneratedText.make(seed: UInt64(index), length: length)) }
        documents.append(Document(id: "empty", text: ""))
        documents.append(Document(id: "spaces", text: " \n\t "))
        var found = 0
        for chunk in stride(from: 0, to: documents.count, by: 300) {
            for document in try annotator.annotate(Array(documents[chunk..<min(chunk + 300, documents.count)])) {
                for passage in document.passages {
                    // Windows merged without duplicates: one head's entities never overlap.
                    for type in Set(passage.entities.map(\.type)) {
                        let spans = passage.entities.filter { $0.type == type }
                        #expect(zip(spans, spans.dropFirst()).allSatisfy { $0.end <= $1.start }, "\(document.id) \(type): overlapping entities")
                    }
                    for entity in passage.entities {
                        found += 1
                        #expect(entity.start < entity.end && entity.end <= passage.length, "\(document.id): \(entity)")
                        #expect(passage.text.scalarSlice(entity.start..<entity.end) == entity.text, "\(document.id): \(entity)")
                        #expect(entity.score > 0 && entity.score <= 1)
                    }
                }
            }
        }
        #expect(found > 1000, "the test model should find many entities, found \(found)")
    }

    /// One call with everything, calls of a few documents, batches of one or two windows, and
    /// two workers on small batches give the same entities, over a thousand generated texts.
    @Test func batchingNeverChangesTheResult() throws {
        let documents = (0..<1000).map { Document(id: "d\($0)", text: GeneratedText.make(seed: 500 + UInt64($0), length: 1 + ($0 * 37) % 400)) }
        let together = try TestModel.annotator()
        defer { together.shutdown() }
        let tiny = try TestModel.annotator { $0.tokenBudget = 128 }
        defer { tiny.shutdown() }
        let all = try together.annotate(documents)
        let small = try tiny.annotate(documents)
        let parallel = try TestModel.annotator(workers: 2) { $0.tokenBudget = 512 }
        defer { parallel.shutdown() }
        let concurrent = try parallel.annotate(documents)
        let grouped = try stride(from: 0, to: documents.count, by: 7).flatMap { try together.annotate(Array(documents[$0..<min($0 + 7, documents.count)])) }
        func key(_ entity: Entity) -> [String] { [entity.type, entity.text, "\(entity.start)", "\(entity.end)"] }
        for (a, (b, (c, d))) in zip(all, zip(grouped, zip(small, concurrent))) {
            let reference = a.documentEntities
            for other in [b.documentEntities, c.documentEntities, d.documentEntities] {
                #expect(other.map(key) == reference.map(key), "\(a.id)")
                for (x, y) in zip(other, reference) { #expect(abs(x.score - y.score) < 1e-4) }
            }
        }
        #expect(all.filter { !$0.documentEntities.isEmpty }.count > 500)
    }

    /// A head with one entity type reports its task name; one with several, each label's type.
    @Test func entityTypesAndTaskFilter() throws {
        let text = String(repeating: "Patients with breast cancer received tamoxifen and IL-6 antibodies. ", count: 6)
        let annotator = try TestModel.annotator()
        defer { annotator.shutdown() }
        let types = Set(try annotator.annotate([Document(id: "a", text: text)])[0].documentEntities.map(\.type))
        #expect(types.isSubset(of: ["disease", "Chemical", "Gene"]) && types.contains("disease"))
        let filtered = try TestModel.annotator { $0.tasks = ["mixed"] }
        defer { filtered.shutdown() }
        #expect(!(try filtered.annotate([Document(id: "a", text: text)])[0].documentEntities.contains { $0.type == "disease" }))
        #expect(throws: AnnotationError.unknownTask("gene", available: ["disease", "mixed"])) { try TestModel.annotator { $0.tasks = ["gene"] } }
        #expect(throws: AnnotationError.self) { try TestModel.annotator { $0.maxLength = 4 } }
        #expect(annotator.identity.name == "test-model" && annotator.identity.version == "0.1")
        // The weights are hashed only where needed (the catalog: CatalogRunTests).
        #expect(annotator.identity.weights == nil)
    }
}

@Suite struct SentenceSplitterTests {
    func sentences(_ text: String) -> [String] { SentenceSplitter().split(text).map { text.scalarSlice($0) } }

    @Test func splitsAtSentenceEndsOnly() {
        #expect(sentences("Mice were infected with E. coli. Survival fell (Fig. 2). The rest, e.g. rats, did not.")
            == ["Mice were infected with E. coli.", "Survival fell (Fig. 2).", "The rest, e.g. rats, did not."])
        #expect(sentences("Smith et al. Reported it. Was it? Yes! 12 cases.") == ["Smith et al. Reported it.", "Was it?", "Yes!", "12 cases."])
        #expect(sentences("Title line\n\n  Abstract starts here,\nwrapped. Next one.") == ["Title line", "Abstract starts here,\nwrapped.", "Next one."])
        #expect(sentences("") == [] && sentences(" \n\n \t") == [])
        #expect(sentences("It ended.\u{201D} Then café 😀 naïve.") == ["It ended.\u{201D}", "Then café 😀 naïve."])
    }
}

@Suite struct EntityDecoderTests {
    let labels = ["O", "B-X", "I-X", "B-Y", "I-Y"]

    func decode(_ rows: [[Float]], words: [Int?], _ strategy: AggregationStrategy, decoding: Decoding = .argmax) -> [EntityDecoder.Span] {
        let decoder = EntityDecoder(labels: labels, aggregation: strategy, decoding: decoding) { $0.lowercased() }
        return rows.flatMap { $0 }.withUnsafeBufferPointer { decoder.decode(probabilities: $0, wordIds: words) }
    }

    /// Wordpieces 0-1 are one word, 2 another, 3-4 a third.
    let rows: [[Float]] = [
        [0.1, 0.8, 0.1, 0, 0], [0.75, 0, 0.25, 0, 0],  // word 0: first says B-X, its second piece says O
        [0.2, 0, 0.6, 0, 0.2],                       // word 1: I-X
        [0.9, 0, 0, 0.1, 0], [0, 0, 0, 0.05, 0.95],  // word 2: first says O, second (more sure) I-Y
    ]
    let words: [Int?] = [0, 0, 1, 2, 2]

    @Test func strategies() {
        #expect(decode(rows, words: words, .first).map(\.tokens) == [0...2])
        #expect(decode(rows, words: words, .first).map(\.type) == ["x"])
        #expect(abs(decode(rows, words: words, .first)[0].score - 0.7) < 1e-6)
        // max: word 2 takes its second piece (0.95 for I-Y), which opens a Y entity after X.
        #expect(decode(rows, words: words, .max).map(\.tokens) == [0...2, 3...4])
        #expect(decode(rows, words: words, .max).map(\.type) == ["x", "y"])
        // average: word 0 = [0.425, 0.4, 0.175] → O; I-X of word 1 then opens X, word 2's mean I-Y opens Y.
        #expect(decode(rows, words: words, .average).map(\.tokens) == [2...2, 3...4])
        // simple: piece 1 is O, so the X entity ends inside word 0; piece 2 opens a new one.
        #expect(decode(rows, words: words, .simple).map(\.tokens) == [0...0, 2...2, 4...4])
    }

    @Test func viterbiNeverStartsWithInside() {
        let rows: [[Float]] = [[0.4, 0.05, 0.55, 0, 0], [0.4, 0, 0.6, 0, 0]]
        #expect(decode(rows, words: [0, 1], .first).map(\.tokens) == [0...1])
        #expect(decode(rows, words: [0, 1], .first, decoding: .viterbi).map(\.tokens) == [])
    }
}
