import Foundation
import Models
import Tensors
import Testing
import TestSupport
import Training

/// Structured pruning on the small cased BERT (2 layers, 4 heads of 32, FFN 512) with two MLP
/// heads: what the pruned matrices compute, how its config records them, and which units the
/// importance ranks last.
@Suite struct PruningTests {
    static let labels = ["O", "B-Disease", "I-Disease"]

    static func model() throws -> TrainableModel {
        try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"),
                                tasks: [TrainableModel.mlpTask(name: "disease", labels: labels), TrainableModel.mlpTask(name: "chemical", labels: labels)], seed: 3)
    }

    /// Layers of different widths (heads 3 and 1, FFN 256 and 100) and one narrowed head.
    static let plan = PruningPlan(heads: [[0, 2, 3], [1]], neurons: [Array(stride(from: 0, to: 512, by: 2)), Array(100..<200)],
                                  headNeurons: ["chemical": Array(stride(from: 1, to: 128, by: 3))])

    static func scratch(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("biotag-\(name)-\(UUID().uuidString)").path
    }

    /// Sets the input columns `columns` of a linear layer's weight to zero.
    static func zeroColumns(_ layer: LinearParameters, _ columns: [Int], in model: TrainableModel) {
        let weight = model.store.value(layer.weight)
        for row in 0..<layer.outFeatures { for column in columns { weight[row * layer.inFeatures + column] = 0 } }
    }

    static func logits(_ directory: String, _ batch: PackedBatch) throws -> [String: [Float]] {
        let runner = try MultiTaskRunner(model: try MultiTaskModel(directory: directory, precision: .fp32), threads: 2)
        defer { runner.shutdown() }
        return try runner.forward(batch).logits
    }

    /// Removing a head or a neuron is zeroing the weights that read it: the pruned model, saved
    /// and loaded by inference, gives the logits of the whole model with those weights zeroed,
    /// and the training pass of the pruned model gives them too.
    @Test func prunedModelComputesTheZeroedModel() throws {
        let model = try Self.model()
        let pruned = try model.pruned(Self.plan)
        #expect(pruned.config.prunedHeads == [[1], [0, 2, 3]])
        #expect(pruned.config.intermediateSizes == [256, 100])
        #expect(pruned.heads.map(\.spec.innerSize) == [nil, 43])
        #expect(pruned.store.count < model.store.count)

        let headSize = model.config.headSize
        for (index, layer) in model.layers.enumerated() {
            let removed = (0..<4).filter { !Self.plan.heads[index].contains($0) }
            Self.zeroColumns(layer.attentionOutput, removed.flatMap { ($0 * headSize)..<(($0 + 1) * headSize) }, in: model)
            Self.zeroColumns(layer.output, (0..<512).filter { !Self.plan.neurons[index].contains($0) }, in: model)
        }
        Self.zeroColumns(model.heads[1].classifier, (0..<128).filter { !Self.plan.headNeurons["chemical"]!.contains($0) }, in: model)

        let directory = Self.scratch("pruned")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokenizer = TestPaths.fixture("arch/cased-bert")
        try pruned.save(to: directory + "/pruned", tokenizerDirectory: tokenizer)
        try model.save(to: directory + "/zeroed", tokenizerDirectory: tokenizer)
        let loaded = try EncoderConfig.load(path: directory + "/pruned/config.json")
        #expect(loaded.prunedHeads == [[1], [0, 2, 3]] && loaded.intermediateSizes == [256, 100])
        #expect((0..<2).map(loaded.heads(layer:)) == [3, 1] && (0..<2).map(loaded.attentionWidth(layer:)) == [96, 32])

        let (batch, _) = try TrainStepTests.packedFixtureBatch()
        let prunedLogits = try Self.logits(directory + "/pruned", batch), zeroedLogits = try Self.logits(directory + "/zeroed", batch)
        let pass = TrainingPass(model: pruned, threads: 2)
        defer { pass.shutdown() }
        _ = try pass.encode(batch, training: false)
        for (index, name) in ["disease", "chemical"].enumerated() {
            let expected = try #require(zeroedLogits[name]), actual = try #require(prunedLogits[name])
            let scale = expected.map(abs).max() ?? 0
            #expect(scale > 0.01)
            #expect(zip(actual, expected).map { abs($0 - $1) }.max()! <= 1e-4 * scale, "\(name): inference")
            let trained = Array(UnsafeBufferPointer(start: try pass.headLogits(index, training: false), count: expected.count))
            #expect(zip(trained, expected).map { abs($0 - $1) }.max()! <= 1e-4 * scale, "\(name): training pass")
        }
    }

    /// Pruning a pruned model keeps the heads' original numbers in `pruned_heads`, and keeping
    /// some of its layers keeps their pruning (`convert --keep-layers` and distillation).
    @Test func pruningComposes() throws {
        let once = try Self.model().pruned(Self.plan)
        let twice = try once.pruned(PruningPlan(heads: [[1, 2], [0]], neurons: [Array(0..<64), Array(0..<50)]))
        // Layer 0 had heads 0, 2, 3: keeping its second and third keeps 2 and 3.
        #expect(twice.config.prunedHeads == [[0, 1], [0, 2, 3]])
        #expect(twice.config.intermediateSizes == [64, 50])
        let student = try twice.keepingLayers([1], heads: ["chemical"])
        #expect(student.config.prunedHeads == [[0, 2, 3]] && student.config.intermediateSize(layer: 0) == 50)
        #expect(student.heads[0].spec.innerSize == 43)
    }

    /// A head or neuron whose output weights are zero changes nothing: its score is 0 and the
    /// plan drops it first.
    @Test func importanceRanksDeadUnitsLast() throws {
        let model = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: nil, seed: 1)
        let headSize = model.config.headSize
        Self.zeroColumns(model.layers[0].attentionOutput, Array((1 * headSize)..<(2 * headSize)), in: model)
        Self.zeroColumns(model.layers[1].output, [7, 300], in: model)
        let pass = TrainingPass(model: model, threads: 2)
        defer { pass.shutdown() }
        pass.hiddenDropout = 0; pass.attentionDropout = 0
        let (batch, labels) = try TrainStepTests.packedFixtureBatch()
        var importance = PruningImportance(model: model)
        for _ in 0..<2 {
            model.store.zeroGradients()
            _ = try pass.encode(batch, training: true)
            _ = try pass.headLogits(0, training: true)
            _ = pass.loss(labels: labels)
            try pass.backward()
            importance.accumulate(model)
        }
        #expect(importance.batches == 2)
        #expect(importance.heads[0][1] == 0 && importance.heads[0].filter { $0 > 0 }.count == 3)
        #expect(importance.neurons[1][7] == 0 && importance.neurons[1][300] == 0)
        let plan = PruningPlan.keepingMostImportant(importance, heads: 3, ffn: 510, headInner: nil)
        #expect(plan.heads[0] == [0, 2, 3])
        #expect(!plan.neurons[1].contains(7) && !plan.neurons[1].contains(300) && plan.neurons[1].count == 510)
        #expect(plan.neurons[0].count == 510 && plan.heads[1].count == 3 && plan.headNeurons.isEmpty)
    }

    @Test func badPlansAreRefused() throws {
        let model = try Self.model()
        let everything = [Array(0..<512), Array(0..<512)]
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[0]], neurons: [Array(0..<512)])) }
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[0, 4], [1]], neurons: everything)) }
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[], [1]], neurons: everything)) }
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[0], [1, 1]], neurons: everything)) }
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[0], [1]], neurons: [Array(0..<512), [512]])) }
        #expect(throws: TrainingError.self) { try model.pruned(PruningPlan(heads: [[0], [1]], neurons: everything, headNeurons: ["chemical": [128]])) }
        let linear = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: nil, seed: 1)
        #expect(throws: TrainingError.self) { try linear.pruned(PruningPlan(heads: [[0], [1]], neurons: everything, headNeurons: ["ner": [0]])) }
    }
}
