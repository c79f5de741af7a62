import Tensors

/// Runs a BERT or DistilBERT encoder over packed batches in fp32.
///
/// One runner is one inference worker: its own scratch memory, its own oneDNN primitives and
/// its own thread pool (`threads` cores splitting each operation). For throughput, run several
/// runners with one thread each on different batches; they share the weights.
public final class EncoderRunner: @unchecked Sendable {
    public let weights: EncoderWeights
    public let gemm: GemmRunner
    public var config: EncoderConfig { weights.config }

    /// When set, every forward pass adds the time of each operation to it.
    public var profile: OperationProfile?

    /// When set, every forward pass records the range of each linear layer's input channels
    /// (calibration for `biotag quantize`).
    public var ranges: ActivationRanges?

    private var hiddenA = ScratchSlot(), hiddenB = ScratchSlot(), qkv = ScratchSlot()
    private var context = ScratchSlot(), inner = ScratchSlot(), scores = ScratchSlot()

    public init(weights: EncoderWeights, threads: Int = 1) throws(DNNLError) {
        self.weights = weights
        self.gemm = try GemmRunner(pool: SpinPool(threads: threads))
    }

    /// Stops the pool's helper threads.
    public func shutdown() { gemm.pool.shutdown() }

    /// Checks a batch against the model's vocabulary, token types and positions.
    public func validate(_ batch: PackedBatch) throws(EncoderInputError) { try batch.validate(for: config) }

    /// The last hidden state of every token.
    /// - Parameter layers: run only the first `layers` blocks (0 returns the embedding output);
    ///   nil runs them all.
    /// - Returns: `[batch.tokenCount, hidden]`, valid until the next call on this runner.
    public func forward(_ batch: PackedBatch, layers: Int? = nil) throws -> UnsafePointer<Float> {
        try validate(batch)
        let rows = batch.tokenCount
        let hidden = config.hiddenSize
        var x = hiddenA.take(rows * hidden)
        var y = hiddenB.take(rows * hidden)
        let qkvBuffer = qkv.take(rows * 3 * config.largestAttentionWidth)
        let contextBuffer = context.take(rows * config.largestAttentionWidth)
        let innerBuffer = inner.take(rows * config.largestIntermediateSize)
        let longest = batch.longest
        let scratchPerTask = attentionScratchCount(tokens: longest, headSize: config.headSize)
        let scoreBuffer = scores.take(batch.count * config.heads * scratchPerTask)
        let epilogue = config.activation.epilogue

        timed("embeddings") { embed(batch, into: x) }
        for (index, layer) in weights.layers.prefix(layers ?? weights.layers.count).enumerated() {
            let heads = config.heads(layer: index), width = config.attentionWidth(layer: index), innerWidth = config.intermediateSize(layer: index)
            ranges?.record(layer: index, part: .queryKeyValue, x, rows: rows, width: hidden)
            try timed("qkv projection") { try gemm.linear(x, rows: rows, layer.queryKeyValue, into: qkvBuffer) }
            timed("attention") {
                gemm.pool.parallelFor(batch.count * heads) { task in
                    let sequence = task / heads, head = task % heads
                    let range = batch.rows(of: sequence)
                    selfAttention(
                        qkv: qkvBuffer + range.lowerBound * 3 * width, tokens: range.count, hidden: width, heads: heads,
                        output: contextBuffer + range.lowerBound * width, scratch: scoreBuffer + task * scratchPerTask, headRange: head..<(head + 1))
                }
            }
            ranges?.record(layer: index, part: .attentionOutput, contextBuffer, rows: rows, width: width)
            try timed("attention output") { try gemm.linear(contextBuffer, rows: rows, layer.attentionOutput, into: y) }
            timed("add + layernorm") { normalize(y, residual: x, rows: rows, layer.attentionNorm) }
            swap(&x, &y)
            ranges?.record(layer: index, part: .intermediate, x, rows: rows, width: hidden)
            try timed("ffn in + gelu") { try gemm.linear(x, rows: rows, layer.intermediate, into: innerBuffer, epilogue: epilogue) }
            ranges?.record(layer: index, part: .output, innerBuffer, rows: rows, width: innerWidth)
            try timed("ffn out") { try gemm.linear(innerBuffer, rows: rows, layer.output, into: y) }
            timed("add + layernorm") { normalize(y, residual: x, rows: rows, layer.outputNorm) }
            swap(&x, &y)
        }
        return UnsafePointer(x)
    }

    @inline(__always)
    private func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard let profile else { return try body() }
        let start = ContinuousClock.now
        let result = try body()
        profile.add(name, ContinuousClock.now - start)
        return result
    }

    /// Word + position (+ token type) embeddings, then LayerNorm.
    private func embed(_ batch: PackedBatch, into x: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize
        let words = weights.wordEmbeddings
        let positions = weights.positionEmbeddings.pointer
        let types = weights.tokenTypeEmbeddings?.pointer
        batch.forEachToken { row, wordId, positionId, typeId in
            let out = x + row * hidden, position = positions + positionId * hidden
            words.copy(row: wordId, into: out, width: hidden)
            if let types {
                let type = types + typeId * hidden
                for i in 0..<hidden { out[i] = out[i] + position[i] + type[i] }
            } else {
                for i in 0..<hidden { out[i] = out[i] + position[i] }
            }
        }
        normalize(x, residual: nil, rows: batch.tokenCount, weights.embeddingNorm)
    }

    /// `x ← LayerNorm(x + residual)`, rows split over the pool.
    private func normalize(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, _ norm: LayerNormWeights) {
        let hidden = config.hiddenSize
        let parts = rows >= 16 ? gemm.pool.threads : 1
        let chunk = (rows + parts - 1) / parts
        gemm.pool.parallelFor(parts) { part in
            let start = part * chunk
            let count = min(chunk, rows - start)
            guard count > 0 else { return }
            addLayerNorm(x + start * hidden, residual: residual.map { $0 + start * hidden }, rows: count, width: hidden,
                         gamma: norm.gamma.pointer, beta: norm.beta.pointer, epsilon: config.layerNormEpsilon)
        }
    }
}

/// Accumulated wall time per operation kind, for `biotag bench` breakdowns.
public final class OperationProfile: @unchecked Sendable {
    public private(set) var totals: [String: Duration] = [:]
    public private(set) var order: [String] = []

    public init() {}

    func add(_ name: String, _ duration: Duration) {
        if totals[name] == nil { order.append(name) }
        totals[name, default: .zero] += duration
    }
}

/// The largest |value| seen on each input channel of each linear layer of an encoder: what
/// `biotag quantize --calibration` derives the smoothing factors from.
public final class ActivationRanges: @unchecked Sendable {
    /// The four linear layers of a transformer block, by the input they read.
    public enum Part: Int, CaseIterable, Sendable {
        case queryKeyValue, attentionOutput, intermediate, output
    }

    /// [layer][part] → per-channel maximum of |input|.
    public private(set) var maxima: [[[Float]]]
    /// Tokens recorded.
    public private(set) var tokens = 0

    public init(config: EncoderConfig) {
        maxima = (0..<config.layers).map { layer in
            [config.hiddenSize, config.attentionWidth(layer: layer), config.hiddenSize, config.intermediateSize(layer: layer)].map { [Float](repeating: 0, count: $0) }
        }
    }

    func record(layer: Int, part: Part, _ x: UnsafePointer<Float>, rows: Int, width: Int) {
        if layer == 0 && part == .queryKeyValue { tokens += rows }
        maxima[layer][part.rawValue].withUnsafeMutableBufferPointer { maximum in
            for row in 0..<rows {
                let values = x + row * width
                for i in 0..<width { maximum[i] = Swift.max(maximum[i], abs(values[i])) }
            }
        }
    }
}
