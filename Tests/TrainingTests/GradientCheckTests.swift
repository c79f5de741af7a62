import Foundation
import Models
import Tensors
import Testing
import TestSupport
import Training

/// Every backward function against central finite differences of its forward function, along
/// random directions: (L(x + εu) − L(x − εu)) / 2ε ≈ ∇L · u. Serialized: the tests share one
/// pool, and a pool serves one caller at a time.
@Suite(.serialized) struct GradientCheckTests {
    static let pool = SpinPool(threads: 2)

    /// Random values in [-scale, scale), reproducible.
    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in (Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    /// Checks ∇·u against the central difference of `loss` along `u`, for `point` perturbed in place.
    static func expectDirectional(_ name: String, point: inout [Float], gradient: [Float], epsilon: Float = 1e-2, directions: Int = 3,
                                  tolerance: Double = 2e-2, loss: ([Float]) -> Double) {
        for d in 0..<directions {
            let u = random(point.count, seed: 1000 + UInt64(d))
            let plus = zip(point, u).map { $0 + epsilon * $1 }, minus = zip(point, u).map { $0 - epsilon * $1 }
            let numeric = (loss(plus) - loss(minus)) / (2 * Double(epsilon))
            let analytic = dot(gradient, u)
            let error = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-3)
            #expect(error <= tolerance, "\(name), direction \(d): numeric \(numeric), analytic \(analytic)")
        }
    }

    /// Checks the gradients a backward pass left in `store` against central differences of
    /// `loss` over every parameter at once, then puts the parameters back.
    static func expectStoreGradient(_ name: String, store: ParameterStore, loss: () -> Double) {
        let gradient = Array(UnsafeBufferPointer(start: store.gradients.pointer, count: store.count))
        var point = Array(UnsafeBufferPointer(start: store.values.pointer, count: store.count))
        let original = point
        expectDirectional(name, point: &point, gradient: gradient, epsilon: 1e-3, directions: 3, tolerance: 3e-2) { values in
            store.values.pointer.update(from: values, count: values.count)
            return loss()
        }
        store.values.pointer.update(from: original, count: original.count)
    }

    @Test func linear() throws {
        let rows = 7, inFeatures = 24, out = 40
        var x = Self.random(rows * inFeatures, seed: 1), w = Self.random(out * inFeatures, seed: 2), b = Self.random(out, seed: 3)
        let weights = Self.random(rows * out, seed: 4)
        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
            var y = [Float](repeating: 0, count: rows * out)
            try! linearForward(Self.pool, x, rows: rows, weight: w, bias: b, out: out, in: inFeatures, into: &y)
            return Self.dot(y, weights)
        }
        var dw = [Float](repeating: 0, count: out * inFeatures), db = [Float](repeating: 0, count: out), dx = [Float](repeating: 0, count: rows * inFeatures)
        try linearBackward(Self.pool, weights, x: x, rows: rows, weight: w, out: out, in: inFeatures, weightGradient: &dw, biasGradient: &db, inputGradient: &dx, accumulate: false)
        Self.expectDirectional("linear dx", point: &x, gradient: dx) { loss($0, w, b) }
        Self.expectDirectional("linear dw", point: &w, gradient: dw) { loss(x, $0, b) }
        Self.expectDirectional("linear db", point: &b, gradient: db) { loss(x, w, $0) }
    }

    @Test func layerNorm() {
        let rows = 20, width = 32
        var x = Self.random(rows * width, seed: 5, scale: 2), gamma = Self.random(width, seed: 6), beta = Self.random(width, seed: 7)
        let weights = Self.random(rows * width, seed: 8)
        func loss(_ x: [Float], _ gamma: [Float], _ beta: [Float]) -> Double {
            var y = x, xhat = [Float](repeating: 0, count: rows * width), rstd = [Float](repeating: 0, count: rows)
            layerNormForward(Self.pool, &y, xhat: &xhat, rstd: &rstd, rows: rows, width: width, gamma: gamma, beta: beta, epsilon: 1e-12)
            return Self.dot(y, weights)
        }
        var y = x, xhat = [Float](repeating: 0, count: rows * width), rstd = [Float](repeating: 0, count: rows)
        layerNormForward(Self.pool, &y, xhat: &xhat, rstd: &rstd, rows: rows, width: width, gamma: gamma, beta: beta, epsilon: 1e-12)
        var grad = weights, dgamma = [Float](repeating: 0, count: width), dbeta = [Float](repeating: 0, count: width)
        var partials = [Float](repeating: 0, count: 2 * width * Self.pool.threads)
        layerNormBackward(Self.pool, &grad, xhat: xhat, rstd: rstd, rows: rows, width: width, gamma: gamma, gammaGradient: &dgamma, betaGradient: &dbeta, partials: &partials)
        Self.expectDirectional("layernorm dx", point: &x, gradient: grad, epsilon: 1e-3) { loss($0, gamma, beta) }
        Self.expectDirectional("layernorm dgamma", point: &gamma, gradient: dgamma) { loss(x, $0, beta) }
        Self.expectDirectional("layernorm dbeta", point: &beta, gradient: dbeta) { loss(x, gamma, $0) }
    }

    @Test func gelu() {
        let x: [Float] = stride(from: -6, through: 6, by: 0.05).map { Float($0) }
        var grad = [Float](repeating: 1, count: x.count)
        geluBackward(Self.pool, x, grad: &grad, count: x.count)
        for (value, derivative) in zip(x, grad) {
            let h = 1e-3
            let f = { (v: Double) in 0.5 * v * (1 + erf(v / 2.0.squareRoot())) }
            let numeric = (f(Double(value) + h) - f(Double(value) - h)) / (2 * h)
            #expect(abs(Double(derivative) - numeric) < 1e-5, "GELU'(\(value)): \(derivative) vs \(numeric)")
        }
        var y = [Float](repeating: 0, count: x.count)
        geluForward(Self.pool, x, into: &y, count: x.count)
        for (value, result) in zip(x, y) {
            #expect(abs(Double(result) - 0.5 * Double(value) * (1 + erf(Double(value) / 2.0.squareRoot()))) < 1e-6)
        }
    }

    @Test(arguments: [false, true]) func attention(withDropout: Bool) throws {
        let hidden = 16, heads = 2
        var batch = PackedBatch()
        batch.append([1, 2, 3])
        batch.append([1, 2, 3, 4, 5, 6])
        let rows = batch.tokenCount
        let (offsets, total) = attentionProbabilityOffsets(batch, heads: heads)
        var qkv = Self.random(rows * 3 * hidden, seed: 9)
        let weights = Self.random(rows * hidden, seed: 10)
        var mask = [Float](repeating: 1, count: total)
        if withDropout { fillDropoutMask(Self.pool, &mask, count: total, probability: 0.3, seed: 77) }
        func forward(_ qkv: [Float], _ probabilities: inout [Float], _ dropped: inout [Float]) throws -> [Float] {
            var context = [Float](repeating: 0, count: rows * hidden)
            try dropped.withUnsafeMutableBufferPointer { d in
                try attentionForward(Self.pool, qkv: qkv, batch: batch, hidden: hidden, heads: heads, offsets: offsets, probabilities: &probabilities,
                                     mask: withDropout ? mask : nil, dropped: withDropout ? d.baseAddress : nil, context: &context)
            }
            return context
        }
        func loss(_ qkv: [Float]) -> Double {
            var probabilities = [Float](repeating: 0, count: total), dropped = [Float](repeating: 0, count: total)
            return Self.dot(try! forward(qkv, &probabilities, &dropped), weights)
        }
        var probabilities = [Float](repeating: 0, count: total), dropped = [Float](repeating: 0, count: total)
        _ = try forward(qkv, &probabilities, &dropped)
        var dqkv = [Float](repeating: 0, count: rows * 3 * hidden), scratch = [Float](repeating: 0, count: total)
        try attentionBackward(Self.pool, qkv: qkv, batch: batch, hidden: hidden, heads: heads, offsets: offsets, probabilities: probabilities,
                              mask: withDropout ? mask : nil, dropped: withDropout ? dropped : nil, contextGradient: weights,
                              qkvGradient: &dqkv, scratch: &scratch)
        Self.expectDirectional("attention dqkv", point: &qkv, gradient: dqkv, epsilon: 1e-3, loss: loss)
    }

    /// Random attention rows to match: a softmax of random scores per row, laid out as
    /// `attentionProbabilityOffsets` lays out a batch's maps.
    static func attentionTargets(_ batch: PackedBatch, heads: Int, seed: UInt64) -> [Float] {
        var target = random(attentionProbabilityOffsets(batch, heads: heads).total, seed: seed, scale: 3)
        var start = 0
        for s in 0..<batch.count {
            let length = batch.rows(of: s).count
            for _ in 0..<(heads * length) {
                let row = target[start..<(start + length)].map { exp($0) }
                let total = row.reduce(0, +)
                for j in 0..<length { target[start + j] = row[j] / total }
                start += length
            }
        }
        return target
    }

    /// The attention-map loss (KL of every row from a target row) on top of a loss on the
    /// context, with attention dropout: its gradient reaches q and k through the scores.
    @Test func attentionMapDivergence() throws {
        let hidden = 16, heads = 2
        var batch = PackedBatch()
        batch.append([1, 2, 3, 4])
        batch.append([1, 2, 3, 4, 5, 6, 7])
        let rows = batch.tokenCount
        let (offsets, total) = attentionProbabilityOffsets(batch, heads: heads)
        var qkv = Self.random(rows * 3 * hidden, seed: 21)
        let weights = Self.random(rows * hidden, seed: 22)
        let target = Self.attentionTargets(batch, heads: heads, seed: 23)
        var mask = [Float](repeating: 1, count: total)
        fillDropoutMask(Self.pool, &mask, count: total, probability: 0.3, seed: 78)
        let scale: Float = 0.7
        func forward(_ qkv: [Float], _ probabilities: inout [Float], _ dropped: inout [Float]) throws -> [Float] {
            var context = [Float](repeating: 0, count: rows * hidden)
            try attentionForward(Self.pool, qkv: qkv, batch: batch, hidden: hidden, heads: heads, offsets: offsets, probabilities: &probabilities,
                                 mask: mask, dropped: &dropped, context: &context)
            return context
        }
        func loss(_ qkv: [Float]) -> Double {
            var probabilities = [Float](repeating: 0, count: total), dropped = [Float](repeating: 0, count: total)
            let context = try! forward(qkv, &probabilities, &dropped)
            return Self.dot(context, weights) + Double(scale) * attentionDivergence(probabilities, target: target, count: total)
        }
        var probabilities = [Float](repeating: 0, count: total), dropped = [Float](repeating: 0, count: total)
        _ = try forward(qkv, &probabilities, &dropped)
        #expect(attentionDivergence(probabilities, target: target, count: total) > 0)
        #expect(abs(attentionDivergence(target, target: target, count: total)) < 1e-5)
        var dqkv = [Float](repeating: 0, count: rows * 3 * hidden), scratch = [Float](repeating: 0, count: total)
        try target.withUnsafeBufferPointer { t in
            try attentionBackward(Self.pool, qkv: qkv, batch: batch, hidden: hidden, heads: heads, offsets: offsets, probabilities: probabilities,
                                  mask: mask, dropped: dropped, contextGradient: weights, qkvGradient: &dqkv, scratch: &scratch,
                                  target: AttentionTarget(probabilities: t.baseAddress!, scale: scale))
        }
        Self.expectDirectional("attention-map dqkv", point: &qkv, gradient: dqkv, epsilon: 1e-3, loss: loss)
    }

    @Test func crossEntropyWithIgnoredRows() {
        let rows = 6, classes = 5
        var logits = Self.random(rows * classes, seed: 11, scale: 3)
        let labels: [Int32] = [0, -100, 4, 2, -100, 1]
        var gradient = [Float](repeating: 0, count: rows * classes)
        let (sum, count) = softmaxCrossEntropy(logits, rows: rows, classes: classes, labels: labels, gradient: &gradient)
        #expect(count == 4)
        #expect(gradient[classes..<(2 * classes)].allSatisfy { $0 == 0 })
        var scratch = gradient
        Self.expectDirectional("cross-entropy", point: &logits, gradient: gradient, epsilon: 1e-3) { point in
            let result = softmaxCrossEntropy(point, rows: rows, classes: classes, labels: labels, gradient: &scratch)
            return result.sum / Double(result.count)
        }
        #expect(sum > 0)
    }

    /// The whole model (encoder, MLP or linear head, dropout on with fixed masks): every
    /// parameter at once, along random directions; with `attentionMaps`, plus the loss on the
    /// last layer's attention maps that distillation's `--attention-weight` adds.
    @Test(arguments: [("cased-bert", false), ("distilbert", false), ("cased-bert", true)])
    func wholeModel(fixture: String, attentionMaps: Bool) throws {
        let spec = TrainableModel.mlpTask(name: "ner", labels: ["O", "B-X", "I-X"])
        let model = try TrainableModel.load(directory: TestPaths.fixture("arch/\(fixture)"), tasks: [spec], seed: 3)
        let pass = TrainingPass(model: model, threads: 2)
        defer { pass.shutdown() }
        var batch = PackedBatch()
        batch.append([101, 2000, 2001, 2002, 102])
        batch.append([101, 3000, 3001, 102])
        let labels: [Int32] = [-100, 0, 1, 2, -100, -100, 1, -100, -100]
        let last = model.layers.count - 1
        let target = attentionMaps ? Self.attentionTargets(batch, heads: model.config.heads(layer: last), seed: 31) : []
        let scale: Float = 0.5
        func loss() throws -> Double {
            _ = try pass.encode(batch, training: true, seed: 99)
            _ = try pass.headLogits(0, training: true, seed: 99)
            let (sum, count) = pass.loss(labels: labels)
            guard attentionMaps else { return sum / Double(count) }
            let maps = pass.attentionProbabilities(layer: last)
            return sum / Double(count) + Double(scale) * attentionDivergence(maps.baseAddress!, target: target, count: maps.count)
        }
        model.store.zeroGradients()
        _ = try loss()
        if attentionMaps {
            try target.withUnsafeBufferPointer { t in
                try pass.backward(heads: [0], seed: 99, attentionTarget: AttentionTarget(probabilities: t.baseAddress!, scale: scale)) { _, logits, gradient in
                    _ = softmaxCrossEntropy(logits, rows: labels.count, classes: 3, labels: labels, gradient: gradient)   // the mean's gradient
                }
            }
        } else {
            try pass.backward()
        }
        Self.expectStoreGradient("\(fixture) whole model\(attentionMaps ? " with attention maps" : "")", store: model.store) { try! loss() }
    }

    /// The synonym trainer's contrastive loss (mean pooling, normalization, symmetric InfoNCE)
    /// back-propagated through the encoder alone (`backward(encoderOutputGradient:)`).
    @Test func contrastiveLossThroughTheEncoder() throws {
        let model = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: [], seed: 3)
        let pass = TrainingPass(model: model, threads: 2)
        defer { pass.shutdown() }
        let batch = PackedBatch([[101, 2000, 2001, 102], [101, 3000, 102], [101, 2000, 2002, 2003, 102], [101, 3001, 102]])
        let width = model.config.hiddenSize
        func loss() throws -> (Double, [Float]) {
            let hidden = try pass.encode(batch, training: true, seed: 5)
            return SynonymTrainer.contrastiveLoss(hidden: hidden, batch: batch, width: width, pairs: 2, temperature: 0.1)
        }
        model.store.zeroGradients()
        let (_, hiddenGradient) = try loss()
        try hiddenGradient.withUnsafeBufferPointer { try pass.backward(encoderOutputGradient: $0.baseAddress!) }
        Self.expectStoreGradient("contrastive loss", store: model.store) { try! loss().0 }
    }

    @Test func distillationLossAgainstSoftTargets() {
        let rows = 5, classes = 4
        var logits = Self.random(rows * classes, seed: 21, scale: 3)
        var targets = [Float](repeating: 0, count: rows * classes)
        temperatureSoftmax(Self.random(rows * classes, seed: 22, scale: 3), rows: rows, classes: classes, temperature: 2, into: &targets)
        for r in 0..<rows { #expect(abs(targets[(r * classes)..<((r + 1) * classes)].reduce(0, +) - 1) < 1e-5) }
        let mask = [true, false, true, true, true]
        var gradient = [Float](repeating: 0, count: rows * classes)
        let (sum, count) = distillationLoss(logits, rows: rows, classes: classes, targets: targets, mask: mask, temperature: 2, weight: 0.5, gradient: &gradient)
        #expect(count == 4 && sum > 0)
        #expect(gradient[classes..<(2 * classes)].allSatisfy { $0 == 0 }, "a masked row has no gradient")
        // The student matching the teacher exactly: no loss, no gradient.
        var same = [Float](repeating: 0, count: rows * classes), teacher = same
        let teacherLogits = Self.random(rows * classes, seed: 23)
        temperatureSoftmax(teacherLogits, rows: rows, classes: classes, temperature: 2, into: &teacher)
        let zero = distillationLoss(teacherLogits, rows: rows, classes: classes, targets: teacher, mask: mask, temperature: 2, weight: 1, gradient: &same)
        #expect(abs(zero.sum) < 1e-5 && same.allSatisfy { abs($0) < 1e-6 })
        var scratch = gradient
        Self.expectDirectional("distillation", point: &logits, gradient: gradient, epsilon: 1e-3) { point in
            scratch = scratch.map { _ in 0 }
            let result = distillationLoss(point, rows: rows, classes: classes, targets: targets, mask: mask, temperature: 2, weight: 0.5, gradient: &scratch)
            return 0.5 * result.sum / Double(result.count)
        }
    }

    /// Distillation's step: two heads' losses (gold cross-entropy on one, soft labels on the
    /// other) and a loss on the encoder output, back-propagated together (`backward(heads:)`).
    @Test func severalHeadsAndTheEncoderOutputAtOnce() throws {
        let specs = [TrainableModel.mlpTask(name: "a", labels: ["O", "B-X", "I-X"]), TrainableModel.mlpTask(name: "b", labels: ["O", "B-Y"])]
        let model = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: specs, seed: 3)
        let pass = TrainingPass(model: model, threads: 2)
        defer { pass.shutdown() }
        let batch = PackedBatch([[101, 2000, 2001, 2002, 102], [101, 3000, 3001, 102]])
        let rows = batch.tokenCount, width = model.config.hiddenSize
        let labels: [Int32] = [-100, 0, 1, 2, -100, -100, 1, -100, -100]
        let mask = labels.map { $0 != -100 }
        var targets = [Float](repeating: 0, count: rows * 2)
        temperatureSoftmax(Self.random(rows * 2, seed: 31, scale: 2), rows: rows, classes: 2, temperature: 2, into: &targets)
        let hiddenTarget = Self.random(rows * width, seed: 32)
        // The loss, its gradients added to the store (the heads run inside `backward(heads:)`).
        func loss() throws -> Double {
            let hidden = try pass.encode(batch, training: true, seed: 99)
            var total = 0.0
            var outputGradient = [Float](repeating: 0, count: rows * width)
            for i in 0..<(rows * width) {
                let difference = hidden[i] - hiddenTarget[i]
                total += Double(difference * difference) / Double(rows * width)
                outputGradient[i] = 2 * difference / Float(rows * width)
            }
            var heads = 0.0
            try outputGradient.withUnsafeBufferPointer { output in
                try pass.backward(heads: [0, 1], seed: 99, outputGradient: output.baseAddress) { head, logits, gradient in
                    if head == 0 {
                        let result = softmaxCrossEntropy(logits, rows: rows, classes: 3, labels: labels, gradient: gradient)
                        heads += result.sum / Double(result.count)
                    } else {
                        let result = distillationLoss(logits, rows: rows, classes: 2, targets: targets, mask: mask, temperature: 2, weight: 1, gradient: gradient)
                        heads += result.sum / Double(result.count)
                    }
                }
            }
            return total + heads
        }
        model.store.zeroGradients()
        _ = try loss()
        Self.expectStoreGradient("two heads and the encoder output", store: model.store) { try! loss() }
    }
}
