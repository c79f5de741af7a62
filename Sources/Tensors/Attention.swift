import Foundation

/// Scaled dot-product self-attention of one sequence, all heads, no mask (the engine packs
/// sequences without padding, so every key is a real token).
///
/// - Parameters:
///   - qkv: `[tokens, 3 · hidden]`, each row `q | k | v`, heads contiguous inside each part
///     (the layout of BERT's fused query/key/value projection).
///   - output: `[tokens, hidden]` context vectors, heads concatenated.
///   - heads: attention heads; `hidden` must be a multiple.
///   - scores: scratch of at least `tokens` floats per head that runs concurrently.
///   - headRange: the heads to compute (so heads can be split across threads).
public func selfAttention(
    qkv: UnsafePointer<Float>, tokens: Int, hidden: Int, heads: Int,
    output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, headRange: Range<Int>
) {
    let headSize = hidden / heads
    let stride = 3 * hidden
    let scale = 1 / Float(headSize).squareRoot()
    let vectorized = headSize % 16 == 0
    for h in headRange {
        let qBase = qkv + h * headSize
        let kBase = qkv + hidden + h * headSize
        let vBase = qkv + 2 * hidden + h * headSize
        for i in 0..<tokens {
            let q = qBase + i * stride
            var maxScore = -Float.infinity
            for j in 0..<tokens {
                let key = kBase + j * stride
                var dot: Float
                if vectorized {
                    var acc = SIMD16<Float>()
                    var d = 0
                    while d < headSize { acc += q.vector16(d) * key.vector16(d); d += 16 }
                    dot = acc.sum()
                } else {
                    dot = 0
                    for d in 0..<headSize { dot += q[d] * key[d] }
                }
                dot *= scale
                scores[j] = dot
                maxScore = Swift.max(maxScore, dot)
            }
            var total: Float = 0
            for j in 0..<tokens {
                let e = expf(scores[j] - maxScore)
                scores[j] = e
                total += e
            }
            let inverse = 1 / total
            let out = output + i * hidden + h * headSize
            if vectorized {
                var d = 0
                while d < headSize {
                    var acc = SIMD16<Float>()
                    for j in 0..<tokens { acc += SIMD16(repeating: scores[j]) * (vBase + j * stride).vector16(d) }
                    out.storeVector(acc * inverse, at: d)
                    d += 16
                }
            } else {
                for d in 0..<headSize {
                    var acc: Float = 0
                    for j in 0..<tokens { acc += scores[j] * vBase[j * stride + d] }
                    out[d] = acc * inverse
                }
            }
        }
    }
}
