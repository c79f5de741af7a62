import Foundation
import Tensors
import Tokenization

/// The outputs of one forward pass: every head's logits.
public struct MultiTaskOutput: Sendable {
    /// Token heads: `[tokens, labels]` row-major, rows as in the packed batch.
    /// Sequence heads: `[sequences, labels]`. Relation heads: `[tokens, width]`, each token's
    /// projection.
    public var logits: [String: [Float]]
    /// The encoder's last hidden states, `[tokens, hidden]`, when asked for.
    public var hidden: [Float]?
}

/// Runs a `MultiTaskModel`: one encoder pass, then every head on the same hidden states. The
/// MLP token heads' first layers run as one GEMM when all of them are asked for.
public final class MultiTaskRunner: @unchecked Sendable {
    public let model: MultiTaskModel
    public let encoder: EncoderRunner
    private var headScratch = ScratchSlot()
    private var fusedScratch = ScratchSlot()
    private let fused: FusedHeadLayers?
    /// When the encoder runs int8, the row count from which the heads' first layers run int8
    /// (`EncoderWeights.headInt8FromRows`); nil: fp32.
    private let headInt8FromRows: Int?
    /// In int8, the MLP token heads' first layers for a head run alone (outside the fused
    /// layer), quantized per output row the first time that head runs alone.
    private var quantizedInnerLayers: [String: DenseWeight] = [:]

    public init(model: MultiTaskModel, threads: Int = 1) throws(DNNLError) {
        self.model = model
        encoder = try EncoderRunner(weights: model.encoder, threads: threads)
        headInt8FromRows = model.encoder.headInt8FromRows
        fused = FusedHeadLayers(model.tasks, hidden: model.config.hiddenSize, int8FromRows: headInt8FromRows)
    }

    /// A token head's first layer as this runner runs it alone.
    private func innerLayer(_ task: String, _ head: TokenClassificationHead) -> DenseWeight? {
        guard let dense = head.dense else { return nil }
        guard let headInt8FromRows else { return .fp32(dense) }
        if let quantized = quantizedInnerLayers[task] { return quantized }
        let quantized = DenseWeight(dense, int8FromRows: headInt8FromRows)
        quantizedInnerLayers[task] = quantized
        return quantized
    }

    public func shutdown() { encoder.shutdown() }

    /// - Parameters:
    ///   - tasks: the heads to run (all when nil).
    ///   - keepHidden: return the last hidden states too.
    public func forward(_ batch: PackedBatch, tasks: Set<String>? = nil, keepHidden: Bool = false) throws -> MultiTaskOutput {
        let hidden = try encoder.forward(batch)
        var logits: [String: [Float]] = [:]
        let rows = batch.tokenCount
        // The stacked first layers, when every head in them is wanted.
        var inner: UnsafeMutablePointer<Float>?
        if let fused, fused.names.allSatisfy({ tasks?.contains($0) ?? true }) {
            let buffer = fusedScratch.take(rows * fused.width)
            try encoder.gemm.linear(hidden, rows: rows, fused.dense, into: buffer, epilogue: fused.epilogue)
            inner = buffer
        }
        for task in model.tasks where tasks?.contains(task.name) ?? true {
            switch task.head {
            case let .token(head):
                let out = FloatBuffer(count: rows * head.labels.count)
                if let inner, let fused, let slot = fused.names.firstIndex(of: task.name) {
                    try encoder.gemm.linear(inner + fused.offsets[slot], rows: rows, head.classifier, into: out.pointer, inputStride: fused.width)
                } else {
                    let inner = innerLayer(task.name, head)
                    try head.apply(hidden, rows: rows, inner: inner, gemm: encoder.gemm, scratch: headScratch.take(rows * (inner?.outFeatures ?? 0)),
                                   logits: out.pointer)
                }
                logits[task.name] = out.array
            case let .sequence(head):
                logits[task.name] = try head.apply(hidden, batch: batch, gemm: encoder.gemm)
            case let .relation(head):
                let out = FloatBuffer(count: rows * head.width)
                try encoder.gemm.linear(hidden, rows: rows, head.projection, into: out.pointer)
                logits[task.name] = out.array
            }
        }
        let kept = keepHidden ? Array(UnsafeBufferPointer(start: hidden, count: rows * model.config.hiddenSize)) : nil
        return MultiTaskOutput(logits: logits, hidden: kept)
    }
}
