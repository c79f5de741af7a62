import CKernels

/// Scaled dot-product self-attention of one sequence for `headRange`, no mask (packed batches
/// have no padding). See `biotag_attention` in CKernels for the algorithm.
/// - Parameters:
///   - qkv: `[tokens, 3 · hidden]`, rows `q | k | v` (BERT's fused projection layout).
///   - output: `[tokens, hidden]`.
///   - scratch: `attentionScratchCount(tokens:headSize:)` floats, private to this call.
public func selfAttention(
    qkv: UnsafePointer<Float>, tokens: Int, hidden: Int, heads: Int,
    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, headRange: Range<Int>
) {
    biotag_attention(qkv, Int32(tokens), Int32(hidden), Int32(heads), output, scratch, Int32(headRange.lowerBound), Int32(headRange.upperBound))
}

public func attentionScratchCount(tokens: Int, headSize: Int) -> Int {
    biotag_attention_scratch(Int32(tokens), Int32(headSize))
}

/// `x ← LayerNorm(x + residual) · gamma + beta` row by row, in place.
public func addLayerNorm(
    _ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, width: Int,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
) {
    biotag_add_layernorm(x, residual, Int32(rows), Int32(width), gamma, beta, epsilon)
}
