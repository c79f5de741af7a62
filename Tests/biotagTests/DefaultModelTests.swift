import Annotation
import Foundation
import Models
import Tensors
import Testing
import TestSupport

/// The committed default model: compact enough, complete, and it finds the obvious entities.
@Suite struct DefaultModelTests {
    static let directory = TestPaths.repository.appendingPathComponent("models/bioner-minilm-8").path

    @Test func fitsIn32MiBWithEightHeads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory)
        let bytes = try files.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: "\(Self.directory)/\($1)")[.size] as? Int) ?? 0) }
        #expect(bytes <= 32 << 20, "\(bytes) bytes")
        let model = try MultiTaskModel(directory: Self.directory)
        let tokenHeads = model.tasks.filter { if case .token = $0.head { true } else { false } }
        #expect(tokenHeads.map(\.name).sorted() == ["anatomy", "cell", "cell_type", "cellular_component", "chemical", "disease", "gene", "species"])
        let relationHeads = model.tasks.compactMap { if case let .relation(head) = $0.head { head } else { nil } }
        #expect(relationHeads.map(\.type) == ["CID"] && relationHeads.first?.arguments.map(\.role) == ["chemical", "disease"])
        #expect(model.name == "bioner-minilm-8" && model.version != nil)
    }

    /// The int8 word embeddings (one scale per 32 values) stay int8 in memory, a quarter of fp32,
    /// and each row a token looks up widens to the values the file holds.
    @Test func wordEmbeddingsStayInt8InMemory() throws {
        let model = try MultiTaskModel(directory: Self.directory)
        guard case .int8(_, _, let groups, let width, _) = model.encoder.wordEmbeddings else {
            Issue.record("the word embeddings were widened to fp32 as the model loaded"); return
        }
        #expect(groups == 12 && width == 384)
        let table = try model.weightsFile.floats("bert.embeddings.word_embeddings.weight").array
        var row = [Float](repeating: 0, count: width)
        for id in [0, 101, 2023, 30521] {
            row.withUnsafeMutableBufferPointer { model.encoder.wordEmbeddings.copy(row: id, into: $0.baseAddress!, width: width) }
            #expect(row == Array(table[(id * width)..<((id + 1) * width)]), "row \(id)")
        }
    }

    /// `type:text` of every entity `biotag annotate` finds in one text with the default model, run
    /// from the repository without `--model` (an entity several heads found, under each type).
    static func entities(in text: String) throws -> Set<String> {
        Set(try linkedEntities(in: text).map { "\($0.type):\($0.text)" })
    }

    /// Every entity of one text, under each of its types, with its concept id (nil: none).
    static func linkedEntities(in text: String, arguments: [String] = []) throws -> [(type: String, text: String, concept: String?)] {
        let input = try JSONSerialization.data(withJSONObject: ["id": "x", "text": text])
        let result = try BiotagCommand.run(["annotate", "--quiet"] + arguments, stdin: input, workingDirectory: TestPaths.repository.path)
        #expect(result.status == 0, "\(result.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        return try #require(record["entities"] as? [[String: Any]]).flatMap { entity -> [(type: String, text: String, concept: String?)] in
            guard let type = entity["type"] as? String, let text = entity["text"] as? String else { return [] }
            let concept = (entity["concept"] as? [String: Any])?["id"] as? String
            return (entity["types"] as? [String] ?? [type]).map { ($0, text, concept) }
        }
    }

    @Test func annotatesFromTheWorkingDirectory() throws {
        let found = try Self.entities(in: "Tamoxifen reduced the risk of breast cancer in women carrying BRCA1 mutations, and mitochondrial damage in liver hepatocytes.")
        for expected in ["chemical:Tamoxifen", "disease:breast cancer", "species:women", "cell:hepatocytes"] {
            #expect(found.contains(expected), "\(expected) not in \(found.sorted())")
        }
        #expect(!found.contains("disease:Tamoxifen") && !found.contains("chemical:breast cancer"))
    }

    /// AnatEM annotates cancers as anatomy (pathological formations); the other corpora's negatives
    /// must not teach the disease head that they are not diseases (`--head-word-share`).
    @Test(arguments: [
        ("Patients with hepatocellular carcinoma were treated with sorafenib.", "hepatocellular carcinoma"),
        ("Bone marrow samples from 40 adults with acute myeloid leukemia at diagnosis.", "acute myeloid leukemia"),
    ])
    func findsCancersAsDiseases(text: String, cancer: String) throws {
        let found = try Self.entities(in: text)
        #expect(found.contains("disease:\(cancer)"), "\(found.sorted())")
    }
}

/// The eight MLP heads' first layers run as one stacked GEMM; each head alone runs unfused.
/// Both give the same logits, in fp32 and in int8 (where the heads' first layers run int8 too).
@Suite struct FusedHeadTests {
    @Test(arguments: [ComputePrecision.fp32, .int8])
    func stackedFirstLayersEqualSeparateHeads(precision: ComputePrecision) throws {
        let model = try MultiTaskModel(directory: DefaultModelTests.directory, precision: precision)
        let runner = try MultiTaskRunner(model: model, threads: 2)
        defer { runner.shutdown() }
        let batch = PackedBatch(Self.texts.map { model.tokenizer.encode($0).ids })
        let fused = try runner.forward(batch)
        var worst: Float = 0
        for task in model.tasks {
            let alone = try #require(try runner.forward(batch, tasks: [task.name]).logits[task.name])
            let together = try #require(fused.logits[task.name])
            #expect(alone.count == together.count)
            for (a, b) in zip(alone, together) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst <= 1e-4, "max abs diff \(worst)")
    }

    static let texts = ["Tamoxifen reduced the risk of breast cancer.", "BRCA1", "Mitochondrial damage in liver hepatocytes of mice exposed to cisplatin ."]

    /// In int8 the heads' first layers run int8 too (quantized per output row, their inputs per
    /// token): on the same hidden states, every head's logits stay close to what its fp32
    /// layers give and pick the same label on nearly every token.
    @Test func int8HeadsFollowFloatHeads() throws {
        let model = try MultiTaskModel(directory: DefaultModelTests.directory, precision: .int8)
        let runner = try MultiTaskRunner(model: model, threads: 2)
        defer { runner.shutdown() }
        let batch = PackedBatch(Self.texts.map { model.tokenizer.encode($0).ids })
        let quantized = try runner.forward(batch)
        let hidden = try runner.encoder.forward(batch)
        let scratch = FloatBuffer(count: batch.tokenCount * model.config.hiddenSize)
        var (tokens, agree, worst) = (0, 0, Float(0))
        for task in model.tasks {
            guard case let .token(head) = task.head else { continue }
            let labels = head.labels.count
            let float = FloatBuffer(count: batch.tokenCount * labels)
            try head.apply(hidden, rows: batch.tokenCount, gemm: runner.encoder.gemm, scratch: scratch.pointer, logits: float.pointer)
            let a = float.array, b = try #require(quantized.logits[task.name])
            for row in 0..<batch.tokenCount {
                let x = a[(row * labels)..<((row + 1) * labels)], y = b[(row * labels)..<((row + 1) * labels)]
                tokens += 1
                if x.indices.max(by: { x[$0] < x[$1] }) == y.indices.max(by: { y[$0] < y[$1] }) { agree += 1 }
                worst = max(worst, zip(x, y).map { abs($0 - $1) }.max()! / max(1, x.map(abs).max()!))
            }
        }
        #expect(worst <= 0.05, "largest logit change \(worst) of the row's largest logit")
        #expect(Double(agree) >= 0.99 * Double(tokens), "\(agree) of \(tokens) tokens keep their label")
    }

    /// The heads' first layers take the encoder's int8 layer choice: kept fp32 at every row
    /// count, the whole int8 model computes exactly what the fp32 model does, heads included
    /// (the stacked layer of the eight heads, and one head run alone); int8 everywhere, it does not.
    @Test func headsFollowTheInt8LayerChoice() throws {
        func logits(_ model: MultiTaskModel, tasks: Set<String>? = nil) throws -> [String: [Float]] {
            let runner = try MultiTaskRunner(model: model, threads: 2)
            defer { runner.shutdown() }
            return try runner.forward(PackedBatch(Self.texts.map { model.tokenizer.encode($0).ids }), tasks: tasks).logits
        }
        func largestDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Float {
            a.keys.map { key in zip(a[key]!, b[key] ?? []).map { abs($0 - $1) }.max() ?? .infinity }.max() ?? .infinity
        }
        let fp32 = try MultiTaskModel(directory: DefaultModelTests.directory, precision: .fp32)
        let kept = try MultiTaskModel(directory: DefaultModelTests.directory, precision: .int8, int8Layers: .fp32Below(.max))
        let int8 = try MultiTaskModel(directory: DefaultModelTests.directory, precision: .int8, int8Layers: .int8)
        #expect(kept.encoder.headInt8FromRows == .max && int8.encoder.headInt8FromRows == 0 && fp32.encoder.headInt8FromRows == nil)
        let reference = try logits(fp32)
        #expect(reference.count >= 8)
        #expect(largestDifference(try logits(kept), reference) == 0)
        #expect(largestDifference(try logits(int8), reference) > 1e-3)
        let alone = try logits(fp32, tasks: ["gene"])
        let keptAlone = try logits(kept, tasks: ["gene"])
        #expect(alone.count == 1 && largestDifference(keptAlone, alone) == 0)
        #expect(largestDifference(try logits(int8, tasks: ["gene"]), alone) > 1e-3)
    }

    /// The CID head on the default model's own pass: an abstract that says a chemical induced a
    /// disease gets that relation once its entities are linked (here each to a concept named
    /// by its text), and the relation's arguments are the linked concepts.
    @Test func findsAChemicalInducedDisease() throws {
        let model = try MultiTaskModel(directory: DefaultModelTests.directory)
        let annotator = try Annotator(model: model, threads: 1, workers: 1)
        defer { annotator.shutdown() }
        let document = Document(id: "1", passages: Passage.fields([
            ("title", "Cisplatin-induced nephrotoxicity in rats"),
            ("abstract", "Rats given cisplatin developed nephrotoxicity within five days. Renal function recovered after the drug was stopped."),
        ]))
        let annotated = try #require(annotator.annotate([document], linking: TextConcepts()).first)
        let found = annotated.relations.map { [$0.type] + $0.arguments.map { "\($0.role)=\($0.concept)" } }
        #expect(found.contains(["CID", "chemical=T:cisplatin", "disease=T:nephrotoxicity"]), "\(found) from \(annotated.documentEntities.map(\.text))")
    }
}
