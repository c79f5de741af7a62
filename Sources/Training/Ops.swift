import CKernels
import Foundation
import Models
import Tensors

// The operations of a BERT training step, forward and backward, over packed batches (rows of
// all sequences concatenated, no padding). Shapes are row-major; `rows` is the batch's token
// count. Each backward function is checked against finite differences in TrainingTests.

/// `y[rows, out] = x[rows, in] · wᵀ + b`.
public func linearForward(_ pool: SpinPool, _ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          out: Int, in inFeatures: Int, into y: UnsafeMutablePointer<Float>) throws(DNNLError) {
    try pool.sgemm(m: rows, n: out, k: inFeatures, GemmOperand(x, ld: inFeatures), GemmOperand(weight, ld: inFeatures, transposed: true), y, ldc: out)
    pool.parallelSlices(rows) { range in
        for r in range {
            let row = y + r * out
            for j in 0..<out { row[j] += bias[j] }
        }
    }
}

/// Gradients of `linearForward`: `dw += dyᵀ·x`, `db += Σ dy`, and `dx = dy·w` (or `dx += dy·w`
/// when `accumulate`); `dx` nil skips the input gradient.
public func linearBackward(_ pool: SpinPool, _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>,
                           out: Int, in inFeatures: Int, weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                           inputGradient dx: UnsafeMutablePointer<Float>?, accumulate: Bool) throws(DNNLError) {
    try pool.sgemm(m: out, n: inFeatures, k: rows, GemmOperand(dy, ld: out, transposed: true), GemmOperand(x, ld: inFeatures),
                   beta: 1, weightGradient, ldc: inFeatures)
    addColumnSums(pool, dy, rows: rows, columns: out, into: biasGradient)
    if let dx {
        try pool.sgemm(m: rows, n: inFeatures, k: out, GemmOperand(dy, ld: out), GemmOperand(weight, ld: inFeatures),
                       beta: accumulate ? 1 : 0, dx, ldc: inFeatures)
    }
}

/// `sums[j] += Σ_r m[r, j]`, columns split over the pool.
public func addColumnSums(_ pool: SpinPool, _ m: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
    let parts = columns >= 64 && rows * columns >= 1 << 15 ? pool.threads : 1
    let block = ((columns + parts - 1) / parts + 15) / 16 * 16
    pool.parallelFor(parts) { part in
        let start = part * block, end = Swift.min(columns, start + block)
        guard start < end else { return }
        for r in 0..<rows {
            let row = m + r * columns
            for j in start..<end { sums[j] += row[j] }
        }
    }
}

/// LayerNorm in place, keeping `xhat` `[rows, width]` and `rstd` `[rows]` for the backward pass.
public func layerNormForward(_ pool: SpinPool, _ x: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
    pool.parallelSlices(rows) { range in
        biotag_layernorm_train(x + range.lowerBound * width, xhat + range.lowerBound * width, rstd + range.lowerBound,
                               Int32(range.count), Int32(width), gamma, beta, epsilon)
    }
}

/// LayerNorm backward: `grad` holds dL/dy and becomes dL/dx; `dgamma`, `dbeta` are accumulated.
/// - Parameter partials: `2 · width · pool.threads` floats of scratch.
public func layerNormBackward(_ pool: SpinPool, _ grad: UnsafeMutablePointer<Float>, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              rows: Int, width: Int, gamma: UnsafePointer<Float>, gammaGradient: UnsafeMutablePointer<Float>,
                              betaGradient: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>) {
    let parts = rows >= 16 ? pool.threads : 1
    partials.update(repeating: 0, count: 2 * width * parts)
    let chunk = (rows + parts - 1) / parts
    pool.parallelFor(parts) { part in
        let start = part * chunk, end = Swift.min(rows, start + chunk)
        guard start < end else { return }
        let local = partials + part * 2 * width
        biotag_layernorm_backward(grad + start * width, xhat + start * width, rstd + start, Int32(end - start), Int32(width),
                                  gamma, local, local + width)
    }
    for part in 0..<parts {
        let local = partials + part * 2 * width
        for i in 0..<width {
            gammaGradient[i] += local[i]
            betaGradient[i] += local[width + i]
        }
    }
}

/// `y = GELU(x)` (erf form) for `count` values.
public func geluForward(_ pool: SpinPool, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    pool.parallelSlices(count, minimum: 4096) { range in
        (y + range.lowerBound).update(from: x + range.lowerBound, count: range.count)
        biotag_gelu_erf(y + range.lowerBound, 1, Int32(range.count), Int32(range.count))
    }
}

/// `grad ← grad · GELU'(x)`.
public func geluBackward(_ pool: SpinPool, _ x: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, count: Int) {
    pool.parallelSlices(count, minimum: 4096) { range in
        biotag_gelu_erf_backward(x + range.lowerBound, grad + range.lowerBound, range.count)
    }
}

/// Inverted dropout masks: each value is 0 with probability `probability`, else
/// `1 / (1 - probability)`. Values depend only on `seed` and their index (blocks of 8192, each
/// from its own generator), never on the thread count.
public func fillDropoutMask(_ pool: SpinPool, _ mask: UnsafeMutablePointer<Float>, count: Int, probability: Float, seed: UInt64) {
    let keep = 1 - probability
    let scale = 1 / keep
    let threshold = UInt32(Double(probability) * Double(1 << 24))
    let blockSize = 8192
    let blocks = (count + blockSize - 1) / blockSize
    pool.parallelSlices(blocks, minimum: 2) { range in
        for block in range {
            var generator = SplitMix64(seed: seed ^ (UInt64(block) &* 0xD1B5_4A32_D192_ED03))
            let start = block * blockSize, end = Swift.min(count, start + blockSize)
            var i = start
            while i < end {
                let bits = generator.next()
                mask[i] = UInt32(truncatingIfNeeded: bits >> 40) < threshold ? 0 : scale
                if i + 1 < end { mask[i + 1] = UInt32(truncatingIfNeeded: (bits >> 8) & 0xFF_FFFF) < threshold ? 0 : scale }
                i += 2
            }
        }
    }
}

/// `x ← x · mask` elementwise (applying or back-propagating dropout).
public func multiply(_ pool: SpinPool, _ x: UnsafeMutablePointer<Float>, by mask: UnsafePointer<Float>, count: Int) {
    pool.parallelSlices(count, minimum: 4096) { range in
        for i in range { x[i] *= mask[i] }
    }
}

/// Where each sequence's attention probabilities start in the `[heads, L, L]`-per-sequence
/// layout of `attentionForward`, and the total.
public func attentionProbabilityOffsets(_ batch: PackedBatch, heads: Int) -> (offsets: [Int], total: Int) {
    var offsets: [Int] = []
    var total = 0
    for s in 0..<batch.count {
        offsets.append(total)
        let length = batch.rows(of: s).count
        total += heads * length * length
    }
    return (offsets, total)
}

/// Multi-head self-attention of every sequence of a packed batch, no mask (no padding).
/// - Parameters:
///   - qkv: `[rows, 3·hidden]`, rows `q | k | v`.
///   - probabilities: written, softmax(q·kᵀ/√d) per sequence and head (`attentionProbabilityOffsets`).
///   - dropped: when attention dropout is on, written with `probabilities · mask`; nil otherwise.
///   - context: `[rows, hidden]`, written.
public func attentionForward(_ pool: SpinPool, qkv: UnsafePointer<Float>, batch: PackedBatch, hidden: Int, heads: Int,
                             offsets: [Int], probabilities: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>?,
                             dropped: UnsafeMutablePointer<Float>?, context: UnsafeMutablePointer<Float>) throws(DNNLError) {
    let headSize = hidden / heads
    let scale = 1 / Float(headSize).squareRoot()
    let failure = FailureBox()
    pool.parallelFor(batch.count * heads) { task in
        let sequence = task / heads, head = task % heads
        let range = batch.rows(of: sequence)
        let length = range.count
        let q = qkv + range.lowerBound * 3 * hidden + head * headSize
        let p = probabilities + offsets[sequence] + head * length * length
        do throws(DNNLError) {
            try sgemm(m: length, n: length, k: headSize, alpha: scale, GemmOperand(q, ld: 3 * hidden),
                      GemmOperand(q + hidden, ld: 3 * hidden, transposed: true), p, ldc: length)
            for i in 0..<length { softmaxRow(p + i * length, count: length) }
            var weights = UnsafePointer(p)
            if let mask, let dropped {
                let d = dropped + offsets[sequence] + head * length * length
                let m = mask + offsets[sequence] + head * length * length
                for i in 0..<(length * length) { d[i] = p[i] * m[i] }
                weights = UnsafePointer(d)
            }
            try sgemm(m: length, n: headSize, k: length, GemmOperand(weights, ld: length), GemmOperand(q + 2 * hidden, ld: 3 * hidden),
                      context + range.lowerBound * hidden + head * headSize, ldc: hidden)
        } catch { failure.record(error) }
    }
    try failure.rethrow()
}

/// Gradients of `attentionForward`: `dqkv` `[rows, 3·hidden]` is written from `dcontext`.
/// - Parameter scratch: as large as `probabilities`.
public func attentionBackward(_ pool: SpinPool, qkv: UnsafePointer<Float>, batch: PackedBatch, hidden: Int, heads: Int, offsets: [Int],
                              probabilities: UnsafePointer<Float>, mask: UnsafePointer<Float>?, dropped: UnsafePointer<Float>?,
                              contextGradient: UnsafePointer<Float>, qkvGradient: UnsafeMutablePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>, target: AttentionTarget? = nil) throws(DNNLError) {
    let headSize = hidden / heads
    let scale = 1 / Float(headSize).squareRoot()
    let failure = FailureBox()
    pool.parallelFor(batch.count * heads) { task in
        let sequence = task / heads, head = task % heads
        let range = batch.rows(of: sequence)
        let length = range.count
        let base = offsets[sequence] + head * length * length
        let q = qkv + range.lowerBound * 3 * hidden + head * headSize
        let dq = qkvGradient + range.lowerBound * 3 * hidden + head * headSize
        let dContext = contextGradient + range.lowerBound * hidden + head * headSize
        let p = probabilities + base
        let dp = scratch + base
        let weights = dropped.map { $0 + base } ?? p
        do throws(DNNLError) {
            // d(weights) = dcontext · vᵀ; dv = weightsᵀ · dcontext
            try sgemm(m: length, n: length, k: headSize, GemmOperand(dContext, ld: hidden),
                      GemmOperand(q + 2 * hidden, ld: 3 * hidden, transposed: true), dp, ldc: length)
            try sgemm(m: length, n: headSize, k: length, GemmOperand(weights, ld: length, transposed: true), GemmOperand(dContext, ld: hidden),
                      dq + 2 * hidden, ldc: 3 * hidden)
            if let mask { let m = mask + base; for i in 0..<(length * length) { dp[i] *= m[i] } }
            // softmax backward: ds = p · (dp − Σ_j dp·p)
            for i in 0..<length {
                let row = dp + i * length, prob = p + i * length
                var dot: Float = 0
                for j in 0..<length { dot += row[j] * prob[j] }
                for j in 0..<length { row[j] = prob[j] * (row[j] - dot) }
                // KL(t ‖ p) of a softmax p over scores s: dKL/ds = p − t.
                if let target {
                    let t = target.probabilities + base + i * length
                    for j in 0..<length { row[j] += target.scale * (prob[j] - t[j]) }
                }
            }
            // dq = scale · ds · k; dk = scale · dsᵀ · q
            try sgemm(m: length, n: headSize, k: length, alpha: scale, GemmOperand(dp, ld: length), GemmOperand(q + hidden, ld: 3 * hidden),
                      dq, ldc: 3 * hidden)
            try sgemm(m: length, n: headSize, k: length, alpha: scale, GemmOperand(dp, ld: length, transposed: true), GemmOperand(q, ld: 3 * hidden),
                      dq + hidden, ldc: 3 * hidden)
        } catch { failure.record(error) }
    }
    try failure.rethrow()
}

/// Attention distributions to match (a teacher's, laid out as `attentionProbabilityOffsets`),
/// and the factor of the loss Σ KL(target row ‖ row) over every head's rows.
public struct AttentionTarget {
    public let probabilities: UnsafePointer<Float>
    public let scale: Float

    public init(probabilities: UnsafePointer<Float>, scale: Float) {
        self.probabilities = probabilities
        self.scale = scale
    }
}

/// Σ target · (log target − log p) over `count` attention probabilities: the KL divergences of
/// every row from its target row, summed (a zero target term adds nothing).
public func attentionDivergence(_ p: UnsafePointer<Float>, target: UnsafePointer<Float>, count: Int) -> Double {
    var total = 0.0
    var i = 0
    while i < count {
        let end = Swift.min(count, i + 4096)
        var partial: Float = 0
        for j in i..<end where target[j] > 0 {
            partial += target[j] * (log(target[j]) - log(Swift.max(p[j], .leastNormalMagnitude)))
        }
        total += Double(partial)
        i = end
    }
    return total
}

/// Softmax of one row in place.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count: Int) {
    var largest = -Float.infinity
    for j in 0..<count { largest = Swift.max(largest, row[j]) }
    for j in 0..<count { row[j] -= largest }
    biotag_exp(row, Int32(count))
    var total: Float = 0
    for j in 0..<count { total += row[j] }
    let inverse = 1 / total
    for j in 0..<count { row[j] *= inverse }
}

/// Mean cross-entropy over the rows whose label is not `ignoreIndex`; writes its gradient
/// with respect to the logits into `gradient` (zero on ignored rows).
/// - Returns: the summed loss (divide by `count` for the mean) and the number of labelled rows.
public func softmaxCrossEntropy(_ logits: UnsafePointer<Float>, rows: Int, classes: Int, labels: [Int32], ignoreIndex: Int32 = -100,
                                gradient: UnsafeMutablePointer<Float>) -> (sum: Double, count: Int) {
    let count = labels.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    let inverse = count > 0 ? 1 / Float(count) : 0
    var sum = 0.0
    for r in 0..<rows {
        let g = gradient + r * classes
        let label = Int(labels[r])
        guard labels[r] != ignoreIndex else { g.update(repeating: 0, count: classes); continue }
        let row = logits + r * classes
        var largest = -Float.infinity
        for c in 0..<classes { largest = Swift.max(largest, row[c]) }
        var total: Double = 0
        for c in 0..<classes { total += Foundation.exp(Double(row[c] - largest)) }
        let logTotal = Foundation.log(total)
        sum += logTotal - Double(row[label] - largest)
        for c in 0..<classes { g[c] = Float(Foundation.exp(Double(row[c] - largest) - logTotal)) * inverse }
        g[label] -= inverse
    }
    return (sum, count)
}

/// `softmax(logits / temperature)` of every row into `probabilities` (a teacher's soft labels).
public func temperatureSoftmax(_ logits: UnsafePointer<Float>, rows: Int, classes: Int, temperature: Float,
                               into probabilities: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = logits + r * classes, out = probabilities + r * classes
        var largest = -Float.infinity
        for c in 0..<classes { largest = Swift.max(largest, row[c] / temperature) }
        var total: Double = 0
        for c in 0..<classes { let e = Foundation.exp(Double(row[c] / temperature - largest)); out[c] = Float(e); total += e }
        for c in 0..<classes { out[c] = Float(Double(out[c]) / total) }
    }
}

/// Knowledge distillation (Hinton et al. 2015): `T² · KL(targets ‖ softmax(logits / T))` summed
/// over the rows where `mask` is true, with `targets` a teacher's `temperatureSoftmax` at the
/// same T. The T² keeps the gradient's size independent of T. Adds `weight` × dLoss/dlogits of
/// the mean over those rows to `gradient` (the other rows' gradient is left as it is).
/// - Returns: the summed loss and the number of rows counted.
public func distillationLoss(_ logits: UnsafePointer<Float>, rows: Int, classes: Int, targets: UnsafePointer<Float>, mask: [Bool],
                             temperature: Float, weight: Float, gradient: UnsafeMutablePointer<Float>) -> (sum: Double, count: Int) {
    let count = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
    guard count > 0 else { return (0, 0) }
    let scale = weight * temperature / Float(count)
    let t = Double(temperature)
    var sum = 0.0
    for r in 0..<rows where mask[r] {
        let row = logits + r * classes, target = targets + r * classes, g = gradient + r * classes
        var largest = -Double.infinity
        for c in 0..<classes { largest = Swift.max(largest, Double(row[c]) / t) }
        var total: Double = 0
        for c in 0..<classes { total += Foundation.exp(Double(row[c]) / t - largest) }
        let logTotal = Foundation.log(total)
        var kl = 0.0
        for c in 0..<classes {
            let logQ = Double(row[c]) / t - largest - logTotal
            let p = Double(target[c])
            if p > 0 { kl += p * (Foundation.log(p) - logQ) }
            g[c] += scale * (Float(Foundation.exp(logQ)) - target[c])
        }
        sum += t * t * kl
    }
    return (sum, count)
}

/// Collects the first error thrown inside a parallel loop.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: DNNLError?

    func record(_ error: DNNLError) { lock.lock(); if self.error == nil { self.error = error }; lock.unlock() }

    func rethrow() throws(DNNLError) {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
    }
}
