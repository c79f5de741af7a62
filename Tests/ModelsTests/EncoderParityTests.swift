import Foundation
import Testing
import TestSupport
import Models

/// The encoders against Hugging Face `transformers` outputs (`../shared/fixtures`).
@Suite struct EncoderParityTests {
    static func maxAbsDiff(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var worst: Float = 0
        for i in 0..<count { worst = max(worst, abs(a[i] - b[i])) }
        return worst
    }

    @Test(arguments: [1, 2])
    func miniLMHiddenStatesMatchTransformers(threads: Int) throws {
        let model = try MultiTaskModel(directory: TestPaths.minilm)
        let runner = try EncoderRunner(weights: model.encoder, threads: threads)
        defer { runner.shutdown() }
        let fixture = try SafetensorsFile(path: TestPaths.fixture("minilm/hidden_states.safetensors"))
        for k in 0..<16 {
            let ids = try fixture.integers("ids\(k)").map(Int32.init)
            let batch = PackedBatch([ids])
            for (name, layers) in [("emb\(k)", 0), ("s\(k)", 6)] {
                let expected = try fixture.floats(name, shape: [ids.count, 384])
                let got = try runner.forward(batch, layers: layers)
                let diff = Self.maxAbsDiff(got, expected.pointer, count: expected.count)
                #expect(diff <= 1e-4, "\(name): max abs diff \(diff)")
            }
        }
    }

    @Test func packedBatchEqualsSingleSequences() throws {
        let model = try MultiTaskModel(directory: TestPaths.minilm)
        let runner = try EncoderRunner(weights: model.encoder, threads: 2)
        defer { runner.shutdown() }
        let fixture = try SafetensorsFile(path: TestPaths.fixture("minilm/hidden_states.safetensors"))
        let sequences = try (0..<16).map { try fixture.integers("ids\($0)").map(Int32.init) }
        let batch = PackedBatch(sequences)
        let packed = Array(UnsafeBufferPointer(start: try runner.forward(batch), count: batch.tokenCount * 384))
        var worst: Float = 0
        for (s, sequence) in sequences.enumerated() {
            let single = try runner.forward(PackedBatch([sequence]))
            let rows = batch.rows(of: s)
            packed.withUnsafeBufferPointer { buffer in
                worst = max(worst, Self.maxAbsDiff(buffer.baseAddress! + rows.lowerBound * 384, single, count: rows.count * 384))
            }
        }
        // GEMM blocking may differ with the row count; anything above float rounding is a bug.
        #expect(worst <= 1e-5, "batched vs single: max abs diff \(worst)")
    }

    /// Padded batch of 6 texts with token types: compare every real (unmasked) position.
    @Test(arguments: ["cased-bert", "distilbert"])
    func paddedBatchReference(architecture: String) throws {
        let model = try MultiTaskModel(directory: TestPaths.fixture("arch/\(architecture)"))
        #expect(model.tasks.count == 1)
        let runner = try MultiTaskRunner(model: model, threads: 2)
        defer { runner.shutdown() }
        let reference = try SafetensorsFile(path: TestPaths.fixture("arch/batch_reference.safetensors"))
        let ids = try reference.integers("input_ids"), mask = try reference.integers("attention_mask")
        let types = try reference.integers("token_type_ids")
        let width = try reference.info("input_ids").shape[1]
        let key = architecture == "cased-bert" ? "bert" : "distilbert"
        var batch = PackedBatch()
        var positions: [Int] = []
        for row in 0..<6 {
            let real = (0..<width).filter { mask[row * width + $0] == 1 }
            batch.append(real.map { Int32(ids[row * width + $0]) },
                         typeIds: model.config.architecture == .bert ? real.map { Int32(types[row * width + $0]) } : nil)
            positions += real.map { row * width + $0 }
        }
        let output = try runner.forward(batch)
        let hidden = try runner.encoder.forward(batch)
        let expectedHidden = try reference.floats("\(key)_last_hidden")
        let expectedLogits = try reference.floats("\(key)_logits")
        var hiddenDiff: Float = 0, logitDiff: Float = 0
        let logits = try #require(output.logits["ner"])
        for (packedRow, position) in positions.enumerated() {
            hiddenDiff = max(hiddenDiff, Self.maxAbsDiff(hidden + packedRow * 128, expectedHidden.pointer + position * 128, count: 128))
            logits.withUnsafeBufferPointer { buffer in
                logitDiff = max(logitDiff, Self.maxAbsDiff(buffer.baseAddress! + packedRow * 5, expectedLogits.pointer + position * 5, count: 5))
            }
        }
        #expect(hiddenDiff <= 1e-4, "last hidden: \(hiddenDiff)")
        #expect(logitDiff <= 1e-4, "logits: \(logitDiff)")
    }
}
