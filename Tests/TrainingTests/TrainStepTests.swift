import Foundation
import Models
import Tensors
import Testing
import TestSupport
import Training

/// One whole training step of the small cased BERT against PyTorch
/// (`fixtures/arch/train_step.safetensors`: loss, every gradient, parameters after AdamW).
@Suite struct TrainStepTests {
    static func packedFixtureBatch() throws -> (PackedBatch, [Int32]) {
        let reference = try SafetensorsFile(path: TestPaths.fixture("arch/batch_reference.safetensors"))
        let step = try SafetensorsFile(path: TestPaths.fixture("arch/train_step.safetensors"))
        let ids = try reference.integers("input_ids"), mask = try reference.integers("attention_mask")
        let types = try reference.integers("token_type_ids"), labels = try step.integers("labels")
        let width = try reference.info("input_ids").shape[1]
        var batch = PackedBatch()
        var packedLabels: [Int32] = []
        for row in 0..<6 {
            let real = (0..<width).filter { mask[row * width + $0] == 1 }
            batch.append(real.map { Int32(ids[row * width + $0]) }, typeIds: real.map { Int32(types[row * width + $0]) })
            packedLabels += real.map { Int32(labels[row * width + $0]) }
        }
        return (batch, packedLabels)
    }

    @Test func gradientsAndAdamWMatchPyTorch() throws {
        let step = try SafetensorsFile(path: TestPaths.fixture("arch/train_step.safetensors"))
        let model = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: nil, seed: 1)
        for threads in [1, 2] {
            model.store.zeroGradients()
            let pass = TrainingPass(model: model, threads: threads)
            defer { pass.shutdown() }
            pass.hiddenDropout = 0
            pass.attentionDropout = 0
            let (batch, labels) = try Self.packedFixtureBatch()
            _ = try pass.encode(batch, training: true)
            _ = try pass.headLogits(0, training: true)
            let (sum, count) = pass.loss(labels: labels)
            let expectedLoss = try step.floats("loss").array[0]
            #expect(abs(Float(sum / Double(count)) - expectedLoss) <= 1e-5 * abs(expectedLoss), "loss \(sum / Double(count)) vs \(expectedLoss)")
            try pass.backward()

            var compared = 0
            for record in model.store.records(from: model.store.gradients) {
                let expected = try step.floats("grad." + record.name).array
                let actual = record.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                let scale = expected.map(abs).max() ?? 0
                let difference = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
                // The key biases' gradient is zero in exact arithmetic (softmax ignores a constant
                // added to every score of a row); both sides hold rounding noise of about 1e-12.
                #expect(scale < 1e-9 ? difference < 1e-10 : difference <= 1e-5 * scale, "\(record.name): max diff \(difference), largest \(scale) (\(threads) threads)")
                compared += 1
            }
            #expect(compared == 39)
        }

        // The whole step: where a gradient is below 1e-6, AdamW's first update g / (|g| + ε)
        // turns float rounding in the gradient (about 1e-10 here, in either implementation) into
        // up to a few 1e-6 in the parameter, so those elements are checked with the reference
        // gradients below instead.
        let start = FloatBuffer(count: model.store.count)
        start.pointer.update(from: model.store.values.pointer, count: model.store.count)
        AdamW(store: model.store).update(learningRate: 1e-3)
        var worst: Float = 0, illConditioned = 0
        for (record, gradient) in zip(model.store.records(), model.store.records(from: model.store.gradients)) {
            let expected = try step.floats("after_adamw." + record.name).array
            let reference = try step.floats("grad." + gradient.name).array
            let actual = record.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for i in actual.indices {
                if abs(reference[i]) < 1e-6 { illConditioned += 1; continue }
                worst = max(worst, abs(actual[i] - expected[i]))
            }
        }
        #expect(worst <= 1e-6, "parameters after one step: max diff \(worst) (\(illConditioned) elements with |grad| < 1e-6 left out)")

        // AdamW alone, fed PyTorch's gradients: every parameter to 1e-6.
        model.store.values.pointer.update(from: start.pointer, count: model.store.count)
        for parameter in model.store.parameters {
            try model.store.load(parameter, names: parameter.names.map { "grad." + $0 }, from: step, into: model.store.gradients)
        }
        AdamW(store: model.store).update(learningRate: 1e-3)
        for record in model.store.records() {
            let expected = try step.floats("after_adamw." + record.name).array
            let actual = record.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let difference = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(difference <= 1e-6, "\(record.name) after AdamW: max diff \(difference)")
        }
        model.store.values.pointer.update(from: start.pointer, count: model.store.count)
    }

    @Test func scheduleWarmsUpThenDecaysToZero() {
        let schedule = LinearSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110)
        #expect(schedule.rate(at: 0) == 0)
        #expect(abs(schedule.rate(at: 5) - 5e-4) < 1e-12)
        #expect(abs(schedule.rate(at: 10) - 1e-3) < 1e-12)
        #expect(abs(schedule.rate(at: 60) - 5e-4) < 1e-12)
        #expect(schedule.rate(at: 110) == 0)
    }

    @Test func clippingScalesTheGlobalNorm() {
        let store = ParameterStore()
        let a = store.add(["a"], shape: [3], decay: true), b = store.add(["b"], shape: [1], decay: false)
        store.allocate()
        store.gradient(a).update(from: [3, 0, 0], count: 3)
        store.gradient(b)[0] = 4
        let norm = store.clipGradients(maxNorm: 1)
        #expect(abs(norm - 5) < 1e-9)
        #expect(abs(store.gradientNorm() - 1) < 1e-5)
        #expect(abs(store.gradient(a)[0] - 0.6) < 1e-5)
    }

    /// Two losses' gradients clipped each on its own (`train --relation
    /// --clip-relation-separately`): the first is set aside and the store zeroed, the second
    /// clipped to its own norm, the first added back.
    @Test func gradientsSetAsideClipApart() {
        let store = ParameterStore()
        let a = store.add(["a"], shape: [2], decay: true)
        store.allocate()
        store.gradient(a).update(from: [0.3, 0.4], count: 2)
        let aside = FloatBuffer(count: store.count)
        store.setGradientsAside(into: aside)
        #expect(store.gradientNorm() == 0 && aside.pointer[0] == 0.3 && aside.pointer[1] == 0.4)
        store.gradient(a).update(from: [6, 8], count: 2)
        #expect(abs(store.clipGradients(maxNorm: 0.1) - 10) < 1e-9)
        store.addGradients(aside)
        #expect(abs(store.gradient(a)[0] - 0.36) < 1e-6 && abs(store.gradient(a)[1] - 0.48) < 1e-6)
    }
}
