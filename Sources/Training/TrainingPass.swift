import Models
import Tensors

/// Forward and backward passes of a `TrainableModel` over packed batches, keeping what the
/// backward pass needs. Gradients are accumulated into the model's `ParameterStore`.
///
/// Dropout follows `transformers`' BERT: after the embeddings' LayerNorm, on the attention
/// probabilities, after the attention output and FFN output projections (before each residual
/// LayerNorm), and on the encoder output before a head. One pass object serves one thread of
/// control; its pool splits every operation.
public final class TrainingPass: @unchecked Sendable {
    public let model: TrainableModel
    public let pool: SpinPool
    public var hiddenDropout: Float = 0.1
    public var attentionDropout: Float = 0.1

    private final class LayerTape {
        var qkv = ScratchSlot(), probabilities = ScratchSlot(), probabilityMask = ScratchSlot(), dropped = ScratchSlot()
        var context = ScratchSlot(), attentionMask = ScratchSlot(), norm1 = ScratchSlot(), rstd1 = ScratchSlot()
        var inner = ScratchSlot(), activated = ScratchSlot(), outputMask = ScratchSlot(), norm2 = ScratchSlot(), rstd2 = ScratchSlot()
        /// The attention block's output (FFN input and residual).
        var attentionOut = ScratchSlot()
    }

    private var batch = PackedBatch()
    private var dropoutOn = false
    /// Per layer (pruned layers have fewer heads): where each sequence's attention probabilities
    /// start, and their total.
    private var offsets: [[Int]] = []
    private var probabilityCounts: [Int] = []
    private var embedded = ScratchSlot(), embeddingNorm = ScratchSlot(), embeddingRstd = ScratchSlot(), embeddingMask = ScratchSlot()
    private var tapes: [LayerTape]
    private var headMask = ScratchSlot(), headInput = ScratchSlot(), headInner = ScratchSlot(), headActivated = ScratchSlot()
    private var logitSlot = ScratchSlot(), logitGradient = ScratchSlot()
    private var gradientA = ScratchSlot(), gradientB = ScratchSlot(), innerGradient = ScratchSlot(), qkvGradient = ScratchSlot()
    private var probabilityScratch = ScratchSlot(), normPartials = ScratchSlot()
    private var lastHead: Int?

    public init(model: TrainableModel, threads: Int) {
        self.model = model
        pool = SpinPool(threads: threads)
        tapes = (0..<model.config.layers).map { _ in LayerTape() }
    }

    public func shutdown() { pool.shutdown() }

    private var store: ParameterStore { model.store }
    private var hidden: Int { model.config.hiddenSize }
    private var rows: Int { batch.tokenCount }

    /// The encoder over `batch`: the last hidden state `[rows, hidden]`, valid until the next call.
    /// - Parameters:
    ///   - training: dropout on (masks drawn from `seed`) and everything kept for `backward`.
    public func encode(_ batch: PackedBatch, training: Bool, seed: UInt64 = 0) throws(TrainingError) -> UnsafePointer<Float> {
        try validate(batch)
        self.batch = batch
        dropoutOn = training && (hiddenDropout > 0 || attentionDropout > 0)
        lastHead = nil
        let config = model.config
        let rows = batch.tokenCount, hidden = config.hiddenSize
        var byHeads: [Int: (offsets: [Int], total: Int)] = [:]
        offsets = []; probabilityCounts = []
        for index in 0..<config.layers {
            let heads = config.heads(layer: index)
            if byHeads[heads] == nil { byHeads[heads] = attentionProbabilityOffsets(batch, heads: heads) }
            offsets.append(byHeads[heads]!.offsets); probabilityCounts.append(byHeads[heads]!.total)
        }

        // Embeddings: word + position (+ type), LayerNorm, dropout.
        var x = embedded.take(rows * hidden)
        let words = store.value(model.wordEmbeddings), positions = store.value(model.positionEmbeddings)
        let types = model.tokenTypeEmbeddings.map { store.value($0) }
        batch.forEachToken { row, wordId, positionId, typeId in
            let out = x + row * hidden, word = words + wordId * hidden, position = positions + positionId * hidden
            for i in 0..<hidden { out[i] = word[i] + position[i] }
            if let types {
                let type = types + typeId * hidden
                for i in 0..<hidden { out[i] += type[i] }
            }
        }
        layerNormForward(pool, x, xhat: embeddingNorm.take(rows * hidden), rstd: embeddingRstd.take(rows), rows: rows, width: hidden,
                         gamma: store.value(model.embeddingNorm.gamma), beta: store.value(model.embeddingNorm.beta), epsilon: config.layerNormEpsilon)
        if dropoutOn { dropout(x, mask: embeddingMask.take(rows * hidden), count: rows * hidden, probability: hiddenDropout, seed: seed, site: 1) }

        do {
            for (index, layer) in model.layers.enumerated() {
                let tape = tapes[index]
                let site = UInt64(100 + 10 * index)
                let width = config.attentionWidth(layer: index), inner = config.intermediateSize(layer: index)
                let probabilityCount = probabilityCounts[index]
                let qkv = tape.qkv.take(rows * 3 * width)
                try linear(x, layer.queryKeyValue, into: qkv)
                let probabilities = tape.probabilities.take(probabilityCount)
                var mask: UnsafeMutablePointer<Float>?, dropped: UnsafeMutablePointer<Float>?
                if dropoutOn && attentionDropout > 0 {
                    mask = tape.probabilityMask.take(probabilityCount)
                    dropped = tape.dropped.take(probabilityCount)
                    fillDropoutMask(pool, mask!, count: probabilityCount, probability: attentionDropout, seed: mix(seed, site))
                }
                let context = tape.context.take(rows * width)
                try attentionForward(pool, qkv: qkv, batch: batch, hidden: width, heads: config.heads(layer: index), offsets: offsets[index],
                                     probabilities: probabilities, mask: mask, dropped: dropped, context: context)
                let attentionOut = tape.attentionOut.take(rows * hidden)
                try linear(context, layer.attentionOutput, into: attentionOut)
                if dropoutOn { dropout(attentionOut, mask: tape.attentionMask.take(rows * hidden), count: rows * hidden, probability: hiddenDropout, seed: seed, site: site + 1) }
                addNorm(attentionOut, residual: x, norm: layer.attentionNorm, xhat: tape.norm1.take(rows * hidden), rstd: tape.rstd1.take(rows))
                let preActivation = tape.inner.take(rows * inner), activated = tape.activated.take(rows * inner)
                try linear(attentionOut, layer.intermediate, into: preActivation)
                geluForward(pool, preActivation, into: activated, count: rows * inner)
                let out = layerOutput(index)
                try linear(activated, layer.output, into: out)
                if dropoutOn { dropout(out, mask: tape.outputMask.take(rows * hidden), count: rows * hidden, probability: hiddenDropout, seed: seed, site: site + 2) }
                addNorm(out, residual: attentionOut, norm: layer.outputNorm, xhat: tape.norm2.take(rows * hidden), rstd: tape.rstd2.take(rows))
                x = out
            }
        } catch { throw .engine(error) }
        return UnsafePointer(x)
    }

    /// Layer `index`'s attention probabilities from the last `encode` (before attention
    /// dropout), each sequence's heads in turn as `attentionProbabilityOffsets` lays them out;
    /// valid until the next `encode`.
    public func attentionProbabilities(layer index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: tapes[index].probabilities.take(probabilityCounts[index]), count: probabilityCounts[index])
    }

    /// The buffer holding layer `index`'s output (the next layer's input).
    private var layerOutputs: [ScratchSlot] = []
    private func layerOutput(_ index: Int) -> UnsafeMutablePointer<Float> {
        while layerOutputs.count <= index { layerOutputs.append(ScratchSlot()) }
        return layerOutputs[index].take(rows * hidden)
    }

    /// The input of layer `index` (the embeddings' output for layer 0).
    private func layerInput(_ index: Int) -> UnsafeMutablePointer<Float> {
        index == 0 ? embedded.take(rows * hidden) : layerOutput(index - 1)
    }

    /// Logits `[rows, labels]` of head `head` on the last `encode` output; with `training`,
    /// dropout on the head's input and activations kept for `backward`.
    public func headLogits(_ head: Int, training: Bool, seed: UInt64 = 0) throws(TrainingError) -> UnsafeMutablePointer<Float> {
        let spec = model.heads[head]
        let classes = spec.labels.count
        var input = UnsafePointer(layerInput(model.layers.count))
        do {
            if training && dropoutOn && hiddenDropout > 0 {
                let copy = headInput.take(rows * hidden)
                copy.update(from: input, count: rows * hidden)
                dropout(copy, mask: headMask.take(rows * hidden), count: rows * hidden, probability: hiddenDropout, seed: seed, site: 7)
                input = UnsafePointer(copy)
            }
            let logits = logitSlot.take(rows * classes)
            if let dense = spec.dense {
                let inner = dense.outFeatures
                let preActivation = headInner.take(rows * inner), activated = headActivated.take(rows * inner)
                try linear(input, dense, into: preActivation)
                geluForward(pool, preActivation, into: activated, count: rows * inner)
                try linear(activated, spec.classifier, into: logits)
            } else {
                try linear(input, spec.classifier, into: logits)
            }
            lastHead = head
            return logits
        } catch { throw .engine(error) }
    }

    /// Cross-entropy of the last head's logits against `labels` (one per row, -100 ignored);
    /// keeps dLoss/dlogits for `backward`.
    /// - Returns: the summed loss and the number of labelled rows.
    public func loss(labels: [Int32]) -> (sum: Double, count: Int) {
        guard let head = lastHead else { return (0, 0) }
        let classes = model.heads[head].labels.count
        return softmaxCrossEntropy(logitSlot.take(rows * classes), rows: rows, classes: classes, labels: labels,
                                   gradient: logitGradient.take(rows * classes))
    }

    /// Back-propagates the loss of the last `loss` call through the head and the encoder,
    /// adding every parameter's gradient to the store.
    public func backward() throws(TrainingError) {
        guard let headIndex = lastHead else { return }
        let d = gradientA.take(rows * hidden)
        try backwardHead(headIndex, into: d, accumulate: false)
        if dropoutOn && hiddenDropout > 0 { multiply(pool, d, by: headMask.take(rows * hidden), count: rows * hidden) }
        try backwardEncoder(d)
    }

    /// Several heads' losses on the last `encode` output at once (distillation trains every head
    /// on every batch): runs each head of `heads` in training mode, lets `lossGradient` fill
    /// dLoss/dlogits (`[rows, labels]`, zeroed before the call) from its logits, back-propagates
    /// each through its head, adds `outputGradient` (a loss on the encoder output itself, e.g.
    /// matching a teacher's hidden states) and back-propagates the sum through the encoder;
    /// `attentionTarget` adds the gradient of a loss on the last layer's attention maps.
    public func backward(heads: [Int], seed: UInt64, outputGradient: UnsafePointer<Float>? = nil, attentionTarget: AttentionTarget? = nil,
                         lossGradient: (_ head: Int, _ logits: UnsafePointer<Float>, _ gradient: UnsafeMutablePointer<Float>) -> Void) throws(TrainingError) {
        let d = gradientA.take(rows * hidden)
        d.update(repeating: 0, count: rows * hidden)
        for head in heads {
            let logits = try headLogits(head, training: true, seed: seed)
            let gradient = logitGradient.take(rows * model.heads[head].labels.count)
            gradient.update(repeating: 0, count: rows * model.heads[head].labels.count)
            lossGradient(head, UnsafePointer(logits), gradient)
            try backwardHead(head, into: d, accumulate: true)
        }
        // Every head saw the same dropped-out input (one mask per seed).
        if dropoutOn && hiddenDropout > 0 { multiply(pool, d, by: headMask.take(rows * hidden), count: rows * hidden) }
        if let outputGradient {
            pool.parallelSlices(rows * hidden, minimum: 4096) { range in
                for i in range { d[i] += outputGradient[i] }
            }
        }
        try backwardEncoder(d, attentionTarget: attentionTarget)
    }

    /// dLoss/d(head input) of head `headIndex` from the logit gradient its last `headLogits`
    /// call left, written to (or, with `accumulate`, added to) `d`; the head's own parameter
    /// gradients go to the store.
    private func backwardHead(_ headIndex: Int, into d: UnsafeMutablePointer<Float>, accumulate: Bool) throws(TrainingError) {
        let head = model.heads[headIndex]
        let rows = self.rows, hidden = model.config.hiddenSize
        let classes = head.labels.count
        let headInputPointer = dropoutOn && hiddenDropout > 0 ? UnsafePointer(headInput.take(rows * hidden)) : UnsafePointer(layerInput(model.layers.count))
        do {
            let dLogits = logitGradient.take(rows * classes)
            if let dense = head.dense {
                let inner = dense.outFeatures
                let dActivated = gradientB.take(rows * inner)
                try linearGradient(dLogits, x: headActivated.take(rows * inner), head.classifier, inputGradient: dActivated, accumulate: false)
                geluBackward(pool, headInner.take(rows * inner), grad: dActivated, count: rows * inner)
                try linearGradient(dActivated, x: headInputPointer, dense, inputGradient: d, accumulate: accumulate)
            } else {
                try linearGradient(dLogits, x: headInputPointer, head.classifier, inputGradient: d, accumulate: accumulate)
            }
        } catch { throw .engine(error) }
    }

    /// Back-propagates a gradient of the last `encode` output (`[rows, hidden]`, e.g. of a
    /// pooled, contrastive loss) through the encoder, adding every parameter's gradient to the
    /// store. No head takes part.
    public func backward(encoderOutputGradient gradient: UnsafePointer<Float>) throws(TrainingError) {
        let d = gradientA.take(rows * hidden)
        d.update(from: gradient, count: rows * hidden)
        try backwardEncoder(d)
    }

    /// The encoder's part of the backward pass, from `d` = dLoss/d(last hidden state).
    private func backwardEncoder(_ d: UnsafeMutablePointer<Float>, attentionTarget: AttentionTarget? = nil) throws(TrainingError) {
        let config = model.config
        let rows = self.rows, hidden = config.hiddenSize
        do {
            for index in stride(from: model.layers.count - 1, through: 0, by: -1) {
                let layer = model.layers[index], tape = tapes[index]
                let width = config.attentionWidth(layer: index), inner = config.intermediateSize(layer: index)
                let probabilityCount = probabilityCounts[index]
                // Output block: LayerNorm, dropout, FFN out, GELU, FFN in.
                layerNormGradient(d, norm: layer.outputNorm, xhat: tape.norm2.take(rows * hidden), rstd: tape.rstd2.take(rows))
                let dOut = gradientB.take(rows * hidden)
                dOut.update(from: d, count: rows * hidden)
                if dropoutOn { multiply(pool, dOut, by: tape.outputMask.take(rows * hidden), count: rows * hidden) }
                let dInner = innerGradient.take(rows * inner)
                try linearGradient(dOut, x: tape.activated.take(rows * inner), layer.output, inputGradient: dInner, accumulate: false)
                geluBackward(pool, tape.inner.take(rows * inner), grad: dInner, count: rows * inner)
                let attentionOut = tape.attentionOut.take(rows * hidden)
                try linearGradient(dInner, x: attentionOut, layer.intermediate, inputGradient: d, accumulate: true)
                // Attention block: LayerNorm, dropout, output projection, attention, QKV.
                layerNormGradient(d, norm: layer.attentionNorm, xhat: tape.norm1.take(rows * hidden), rstd: tape.rstd1.take(rows))
                let dAttention = gradientB.take(rows * hidden)
                dAttention.update(from: d, count: rows * hidden)
                if dropoutOn { multiply(pool, dAttention, by: tape.attentionMask.take(rows * hidden), count: rows * hidden) }
                let dContext = innerGradient.take(rows * width)
                try linearGradient(dAttention, x: tape.context.take(rows * width), layer.attentionOutput, inputGradient: dContext, accumulate: false)
                let dQKV = qkvGradient.take(rows * 3 * width)
                let attentionMasked = dropoutOn && attentionDropout > 0
                try attentionBackward(pool, qkv: tape.qkv.take(rows * 3 * width), batch: batch, hidden: width, heads: config.heads(layer: index), offsets: offsets[index],
                                      probabilities: tape.probabilities.take(probabilityCount),
                                      mask: attentionMasked ? UnsafePointer(tape.probabilityMask.take(probabilityCount)) : nil,
                                      dropped: attentionMasked ? UnsafePointer(tape.dropped.take(probabilityCount)) : nil,
                                      contextGradient: dContext, qkvGradient: dQKV, scratch: probabilityScratch.take(probabilityCount),
                                      target: index == model.layers.count - 1 ? attentionTarget : nil)
                try linearGradient(dQKV, x: layerInput(index), layer.queryKeyValue, inputGradient: d, accumulate: true)
            }
        } catch { throw .engine(error) }

        // Embeddings: dropout, LayerNorm, then scatter into the tables.
        if dropoutOn { multiply(pool, d, by: embeddingMask.take(rows * hidden), count: rows * hidden) }
        layerNormGradient(d, norm: model.embeddingNorm, xhat: embeddingNorm.take(rows * hidden), rstd: embeddingRstd.take(rows))
        let words = store.gradient(model.wordEmbeddings), positions = store.gradient(model.positionEmbeddings)
        let types = model.tokenTypeEmbeddings.map { store.gradient($0) }
        batch.forEachToken { row, wordId, positionId, typeId in
            let g = d + row * hidden, word = words + wordId * hidden, position = positions + positionId * hidden
            for i in 0..<hidden { word[i] += g[i]; position[i] += g[i] }
            if let types {
                let type = types + typeId * hidden
                for i in 0..<hidden { type[i] += g[i] }
            }
        }
    }

    // MARK: - Helpers

    private func validate(_ batch: PackedBatch) throws(TrainingError) {
        do { try batch.validate(for: model.config) } catch { throw .data(error.description) }
    }

    private func linear(_ x: UnsafePointer<Float>, _ layer: LinearParameters, into y: UnsafeMutablePointer<Float>) throws(DNNLError) {
        try linearForward(pool, x, rows: rows, weight: store.value(layer.weight), bias: store.value(layer.bias),
                          out: layer.outFeatures, in: layer.inFeatures, into: y)
    }

    private func linearGradient(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, _ layer: LinearParameters,
                                inputGradient: UnsafeMutablePointer<Float>?, accumulate: Bool) throws(DNNLError) {
        try linearBackward(pool, dy, x: x, rows: rows, weight: store.value(layer.weight), out: layer.outFeatures, in: layer.inFeatures,
                           weightGradient: store.gradient(layer.weight), biasGradient: store.gradient(layer.bias),
                           inputGradient: inputGradient, accumulate: accumulate)
    }

    /// `x ← LayerNorm(x + residual)`.
    private func addNorm(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>, norm: NormParameters,
                         xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let count = rows * hidden
        pool.parallelSlices(count, minimum: 4096) { range in
            for i in range { x[i] += residual[i] }
        }
        layerNormForward(pool, x, xhat: xhat, rstd: rstd, rows: rows, width: hidden, gamma: store.value(norm.gamma),
                         beta: store.value(norm.beta), epsilon: model.config.layerNormEpsilon)
    }

    private func layerNormGradient(_ grad: UnsafeMutablePointer<Float>, norm: NormParameters, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>) {
        layerNormBackward(pool, grad, xhat: xhat, rstd: rstd, rows: rows, width: hidden, gamma: store.value(norm.gamma),
                          gammaGradient: store.gradient(norm.gamma), betaGradient: store.gradient(norm.beta),
                          partials: normPartials.take(2 * hidden * pool.threads))
    }

    private func dropout(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, count: Int, probability: Float, seed: UInt64, site: UInt64) {
        guard probability > 0 else { mask.update(repeating: 1, count: count); return }
        fillDropoutMask(pool, mask, count: count, probability: probability, seed: mix(seed, site))
        multiply(pool, x, by: mask, count: count)
    }

    private func mix(_ seed: UInt64, _ site: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: seed ^ (site &* 0x9E37_79B9_7F4A_7C15))
        return generator.next()
    }
}
