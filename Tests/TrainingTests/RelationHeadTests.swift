import Annotation
import Foundation
import Models
import Testing
import Training

struct RelationHeadTests {
    /// Two passages (a title and an abstract), each one sentence per line of `words`; every word
    /// one wordpiece whose vector is `vector(word)`.
    static func tokens(_ passages: [[[String]]], width: Int, vector: (String) -> [Float]) -> (Document, DocumentTokens) {
        var document = Document(id: "1", passages: [])
        var tokens = DocumentTokens(width: width)
        var offset = 0
        for (p, sentences) in passages.enumerated() {
            var text = ""
            for words in sentences {
                var offsets: [Range<Int>] = [], vectors: [Float] = []
                for word in words {
                    if !text.isEmpty { text += " " }
                    offsets.append(text.count..<(text.count + word.count))
                    text += word
                    vectors += vector(word)
                }
                tokens.sentences.append(DocumentTokens.Sentence(passage: p, offsets: offsets, vectors: vectors))
            }
            document.passages.append(Passage(text: text, offset: offset))
            offset += text.count + 1
        }
        return (document, tokens)
    }

    static func entity(_ document: Document, passage: Int, _ text: String, type: String, ids: [String], other: [String] = []) -> Entity {
        let start = document.passages[passage].text.range(of: text)!.lowerBound.utf16Offset(in: document.passages[passage].text)
        return Entity(type: type, start: start, end: start + text.count, text: text, concepts: ids.map { ConceptReference(id: $0, name: "") }, otherTypes: other)
    }

    /// Mentions are the mean of their wordpieces; a concept collects every mention (also one of
    /// another type that lists the argument's among its other types); `-1` is no concept; a pair
    /// of the same concept (with or without `MESH:`) is not a candidate; the features say where
    /// the mentions lie; the shared sentences are those naming both.
    @Test func candidatesFromMentions() {
        let numbers: [String: Float] = ["aspirin": 1, "gastric": 2, "ulcer": 4, "caused": 0, "by": 0, "in": 0, "rats": 8, "bleeding": 16, "naproxen": 32]
        var (document, tokens) = Self.tokens([[["aspirin"]], [["gastric", "ulcer", "caused", "by", "aspirin"], ["bleeding", "in", "rats", "naproxen"]]], width: 2) { word in
            [numbers[word] ?? 0, 1]
        }
        document.passages[0].entities = [Self.entity(document, passage: 0, "aspirin", type: "chemical", ids: ["MESH:D001241"])]
        document.passages[1].entities = [
            Self.entity(document, passage: 1, "gastric ulcer", type: "disease", ids: ["MESH:D013276"]),
            Self.entity(document, passage: 1, "aspirin", type: "chemical", ids: ["MESH:D001241"]),
            Self.entity(document, passage: 1, "bleeding", type: "anatomy", ids: ["MESH:D006470"], other: ["Disease"]),
            Self.entity(document, passage: 1, "rats", type: "species", ids: ["NCBITaxon:10116"]),
            Self.entity(document, passage: 1, "naproxen", type: "chemical", ids: ["-1"]),
        ]
        let features: [RelationFeature] = [.sameSentence, .sentenceDistance, .firstInTitle, .secondInTitle, .firstMentions, .secondMentions]
        let arguments = [RelationArgument(role: "chemical", types: ["Chemical"]), RelationArgument(role: "disease", types: ["disease"])]
        let candidates = RelationExtraction.candidates(in: document, tokens: tokens, arguments: arguments, features: features)
        #expect(candidates.map { [$0.first, $0.second] } == [["MESH:D001241", "MESH:D006470"], ["MESH:D001241", "MESH:D013276"]])
        let bleeding = candidates[0], ulcer = candidates[1]
        #expect(ulcer.firstMentions == [[1, 1], [1, 1]] && ulcer.secondMentions == [[3, 1]])
        #expect(ulcer.sharedSentences == [1] && bleeding.sharedSentences.isEmpty)
        #expect(ulcer.features == [1, 0, 1, 0, logf(3), logf(2)])
        #expect(bleeding.features == [0, logf(2), 1, 0, logf(3), logf(2)])
        #expect(tokens.rows(of: [2]) == [[16, 1], [0, 1], [8, 1], [32, 1]])
        // A mention the tokens do not cover is left out; the same concept in both roles is no pair.
        document.passages[1].entities.append(Entity(type: "disease", start: 200, end: 205, text: "xxxxx", concepts: [ConceptReference(id: "MESH:D000001", name: "")]))
        document.passages[1].entities.append(Self.entity(document, passage: 1, "ulcer", type: "disease", ids: ["D001241"]))
        let more = RelationExtraction.candidates(in: document, tokens: tokens, arguments: arguments, features: features)
        #expect(more.map(\.second) == ["MESH:D006470", "MESH:D013276"])
    }

    static func randomDocuments(_ count: Int, hidden: Int, seed: UInt64) -> [RelationDocument] {
        var generator = SplitMix64(seed: seed)
        func vector() -> [Float] { (0..<hidden).map { _ in Float.random(in: -1...1, using: &generator) } }
        return (0..<count).map { _ in
            var tokens = DocumentTokens(width: hidden)
            for _ in 0..<2 { tokens.sentences.append(DocumentTokens.Sentence(passage: 0, offsets: [0..<1, 1..<2, 2..<3], vectors: (0..<3).flatMap { _ in vector() })) }
            let chemicals = (0..<2).map { _ in [vector(), vector()] }, diseases = (0..<2).map { _ in [vector()] }
            var candidates: [RelationExtraction.Candidate] = [], labels: [Bool] = []
            for (c, chemical) in chemicals.enumerated() {
                for (d, disease) in diseases.enumerated() {
                    candidates.append(RelationExtraction.Candidate(first: "C\(c)", second: "D\(d)", firstMentions: chemical, secondMentions: disease,
                                                                  sharedSentences: (c + d) % 2 == 0 ? [d] : [], features: [Float(c), Float(d)]))
                    // Whether the relation holds is read from the disease's mention.
                    labels.append(disease[0][0] + disease[0][1] > 0)
                }
            }
            return RelationDocument(candidates: candidates, tokens: tokens, labels: labels, unreachable: 0)
        }
    }

    /// The trainer's analytic gradients (max pooling routed to the mention that won, the product
    /// term, the context) match central finite differences of its loss.
    @Test func gradientsMatchFiniteDifferences() {
        var options = RelationTrainingOptions()
        options.width = 4; options.inner = 5; options.dropout = 0
        let trainer = RelationTrainer(hidden: 6, features: 2, options: options)
        let documents = Self.randomDocuments(3, hidden: 6, seed: 5)
        _ = trainer.lossWithGradients(documents)
        let analytic = Array(UnsafeBufferPointer(start: trainer.store.gradients.pointer, count: trainer.store.count))
        var checked = 0
        for parameter in trainer.store.parameters {
            for index in stride(from: parameter.offset, to: parameter.offset + parameter.count, by: max(1, parameter.count / 7)) {
                let value = trainer.store.values.pointer[index], step: Float = 1e-3
                trainer.store.values.pointer[index] = value + step
                let plus = trainer.lossWithGradients(documents)
                trainer.store.values.pointer[index] = value - step
                let minus = trainer.lossWithGradients(documents)
                trainer.store.values.pointer[index] = value
                let numeric = (plus - minus) / Double(2 * step)
                #expect(abs(numeric - Double(analytic[index])) <= 1e-3 + 0.03 * abs(numeric), "\(parameter.names[0])[\(index - parameter.offset)]")
                checked += 1
            }
        }
        #expect(checked >= 25)
    }

    /// What flows back to the encoder when it trains with the head: the loss's gradient with
    /// respect to each wordpiece's hidden state (through a mention's mean, the max over a
    /// concept's mentions and over the shared sentences' wordpieces) matches central finite
    /// differences of the loss, the candidates rebuilt from the changed vectors each time.
    @Test func hiddenStateGradientsMatchFiniteDifferences() {
        let hidden = 5
        var generator = SplitMix64(seed: 9)
        let (base, initial) = Self.tokens([[["aspirin", "ulcer"]], [["gastric", "ulcer", "caused", "by", "aspirin"], ["bleeding", "in", "rats", "after", "aspirin"]]],
                                          width: hidden) { _ in (0..<hidden).map { _ in Float.random(in: -1...1, using: &generator) } }
        var document = base
        document.passages[0].entities = [Self.entity(document, passage: 0, "aspirin", type: "chemical", ids: ["C1"]),
                                         Self.entity(document, passage: 0, "ulcer", type: "disease", ids: ["D1"])]
        document.passages[1].entities = [
            Self.entity(document, passage: 1, "gastric ulcer", type: "disease", ids: ["D1"]),
            Self.entity(document, passage: 1, "aspirin", type: "chemical", ids: ["C1"]),
            Self.entity(document, passage: 1, "bleeding", type: "disease", ids: ["D2"]),
            Self.entity(document, passage: 1, "rats", type: "chemical", ids: ["C2"]),
        ]
        let arguments = [RelationArgument(role: "chemical", types: ["chemical"]), RelationArgument(role: "disease", types: ["disease"])]
        let features = RelationFeature.allCases
        func relationDocument(_ tokens: DocumentTokens) -> RelationDocument {
            let candidates = RelationExtraction.candidates(in: document, tokens: tokens, arguments: arguments, features: features)
            return RelationDocument(candidates: candidates, tokens: tokens, labels: candidates.map { $0.first == "C1" && $0.second == "D1" }, unreachable: 0)
        }
        var options = RelationTrainingOptions()
        options.width = 4; options.inner = 6
        let trainer = RelationTrainer(hidden: hidden, features: features.count, options: options)
        let analytic = trainer.hiddenGradients([relationDocument(initial)], weight: 1, dropout: false)
        #expect(analytic.pairs == 4)
        // Every wordpiece a candidate reads gets a gradient: the mentions, and the sentences naming both concepts of a pair.
        #expect(Set(analytic.gradients[0].keys.map(\.sentence)) == [0, 1, 2])
        var checked = 0
        for (s, sentence) in initial.sentences.enumerated() {
            for t in sentence.offsets.indices {
                for i in 0..<hidden {
                    var tokens = initial
                    let step: Float = 1e-3, value = sentence.vectors[t * hidden + i]
                    tokens.sentences[s].vectors[t * hidden + i] = value + step
                    let plus = trainer.lossWithGradients([relationDocument(tokens)])
                    tokens.sentences[s].vectors[t * hidden + i] = value - step
                    let minus = trainer.lossWithGradients([relationDocument(tokens)])
                    let numeric = (plus - minus) / Double(2 * step)
                    let found = Double(analytic.gradients[0][DocumentTokens.Place(sentence: s, token: t)]?[i] ?? 0)
                    #expect(abs(numeric - found) <= 2e-4 + 0.03 * abs(numeric), "sentence \(s) wordpiece \(t) value \(i): \(found), numerically \(numeric)")
                    checked += 1
                }
            }
        }
        #expect(checked == 12 * hidden)
    }

    /// On pairs whose relation the mentions decide, training reaches a held-out F1 far above
    /// what guessing gives, and keeps the best epoch's weights.
    @Test func learnsARelationFromMentions() {
        var options = RelationTrainingOptions()
        options.width = 16; options.inner = 16; options.epochs = 40; options.learningRate = 3e-3
        let trainer = RelationTrainer(hidden: 8, features: 2, options: options)
        let train = Self.randomDocuments(120, hidden: 8, seed: 1), heldOut = Self.randomDocuments(30, hidden: 8, seed: 2)
        let before = trainer.score(heldOut, threshold: 0.5).score.f1
        let best = trainer.train(train, heldOut: heldOut) { _ in }
        #expect(best.score.f1 > 0.85, "held-out F1 \(best.score.f1), \(before) before training")
        #expect(trainer.score(heldOut, threshold: best.threshold) == best)
    }
}
