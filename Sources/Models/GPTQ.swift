import Foundation
import Synchronization

/// GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative
/// Pre-trained Transformers"): rounds a linear layer's weight rows one input column at a time and
/// moves each rounding error onto the columns not yet rounded, in proportion to the inverse of
/// the Hessian H = Σ x xᵀ of the layer's inputs, so that the layer's *outputs* on inputs like the
/// calibration set move least. Round-to-nearest is the case without that correction.
public struct GPTQFactor: Sendable {
    /// Input width.
    public let width: Int
    /// U, upper triangular `[width, width]` row-major, with Uᵀ U = (H + λ I)⁻¹.
    let upper: [Double]
    /// Input channels that were zero on every calibration row: their weights are dropped.
    let dead: [Bool]

    /// - Parameters:
    ///   - gram: Σ x xᵀ, `[width, width]` row-major; only the upper triangle is read.
    ///   - damping: λ as a share of the mean diagonal (GPTQ's 1%); raised tenfold, up to three
    ///     times, while H + λ I is not numerically positive definite.
    /// - Returns: nil when H is unusable (no calibration rows, or not positive definite).
    public init?(gram: [Double], width: Int, damping: Double = 0.01) {
        guard width > 0, gram.count == width * width else { return nil }
        var h = [Double](repeating: 0, count: width * width)
        var dead = [Bool](repeating: false, count: width)
        for i in 0..<width {
            for j in i..<width { h[i * width + j] = gram[i * width + j]; h[j * width + i] = gram[i * width + j] }
            if h[i * width + i] <= 0 { dead[i] = true; h[i * width + i] = 1 }
        }
        guard dead.contains(false) else { return nil }
        let meanDiagonal = (0..<width).reduce(0.0) { $0 + h[$1 * width + $1] } / Double(width)
        guard meanDiagonal.isFinite, meanDiagonal > 0 else { return nil }
        for attempt in 0..<4 {
            var damped = h
            let lambda = damping * pow(10, Double(attempt)) * meanDiagonal
            for i in 0..<width { damped[i * width + i] += lambda }
            guard let lower = Self.cholesky(damped, width) else { continue }
            // (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹; its lower Cholesky factor, transposed, is U.
            let inverse = Self.inverseFromCholesky(lower, width)
            guard let factor = Self.cholesky(inverse, width) else { continue }
            var upper = [Double](repeating: 0, count: width * width)
            for i in 0..<width { for j in i..<width { upper[i * width + j] = factor[j * width + i] } }
            (self.width, self.upper, self.dead) = (width, upper, dead)
            return
        }
        return nil
    }

    /// Lower triangular L with L Lᵀ = a (nil when a is not positive definite).
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var diagonal = a[j * n + j]
            for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
            guard diagonal > 0, diagonal.isFinite else { return nil }
            let root = diagonal.squareRoot()
            l[j * n + j] = root
            for i in (j + 1)..<n {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = sum / root
            }
        }
        return l
    }

    /// (L Lᵀ)⁻¹ from the lower triangular L.
    static func inverseFromCholesky(_ l: [Double], _ n: Int) -> [Double] {
        // M = L⁻¹ (lower triangular), by forward substitution column by column.
        var m = [Double](repeating: 0, count: n * n)
        for column in 0..<n {
            m[column * n + column] = 1 / l[column * n + column]
            for i in (column + 1)..<n {
                var sum = 0.0
                for k in column..<i { sum -= l[i * n + k] * m[k * n + column] }
                m[i * n + column] = sum / l[i * n + i]
            }
        }
        // Mᵀ M.
        var inverse = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var sum = 0.0
                for k in j..<n { sum += m[k * n + i] * m[k * n + j] }
                inverse[i * n + j] = sum; inverse[j * n + i] = sum
            }
        }
        return inverse
    }
}

/// Symmetric int8 rounding of a `[rows, width]` weight with one scale per `group` consecutive
/// values of a row, round-to-nearest or, given a `GPTQFactor`, GPTQ.
struct Int8Rounding {
    let rows: Int, width: Int, group: Int

    /// - Parameter halfScales: round every scale up to the next fp16 value before using it; nil
    ///   is returned if one is not a normal fp16 number.
    /// - Returns: the int8 values and the `[rows, width / group]` scales they were made with.
    func round(_ values: [Float], factor: GPTQFactor?, halfScales: Bool) -> (values: [Int8], scales: [Float])? {
        let groups = width / group
        var quantized = [Int8](repeating: 0, count: rows * width)
        var scales = [Float](repeating: 1, count: rows * groups)
        let failed = Atomic<Bool>(false)
        let chunk = 16
        quantized.withUnsafeMutableBufferPointer { q in
            scales.withUnsafeMutableBufferPointer { s in
                nonisolated(unsafe) let q = q
                nonisolated(unsafe) let s = s
                DispatchQueue.concurrentPerform(iterations: (rows + chunk - 1) / chunk) { block in
                    var row = [Double](repeating: 0, count: width)
                    for r in (block * chunk)..<min(rows, (block + 1) * chunk) {
                        for i in 0..<width { row[i] = factor?.dead[i] == true ? 0 : Double(values[r * width + i]) }
                        var scale = 1.0
                        for i in 0..<width {
                            if i % group == 0 {
                                let largest = row[i..<(i + group)].reduce(0.0) { max($0, abs($1)) }
                                var chosen = largest > 0 ? Float(largest / 127) : 1
                                if halfScales {
                                    let half = Float16.roundedUp(chosen)
                                    guard half.isNormal, half.isFinite else { failed.store(true, ordering: .relaxed); return }
                                    chosen = Float(half)
                                }
                                scale = Double(chosen)
                                s[r * groups + i / group] = chosen
                            }
                            let level = (row[i] / scale).rounded().clamped(to: -127...127)
                            q[r * width + i] = Int8(level)
                            guard let factor else { continue }
                            let error = (row[i] - level * scale) / factor.upper[i * width + i]
                            if error == 0 { continue }
                            factor.upper.withUnsafeBufferPointer { u in
                                for j in (i + 1)..<width { row[j] -= error * u[i * width + j] }
                            }
                        }
                    }
                }
            }
        }
        return failed.load(ordering: .relaxed) ? nil : (quantized, scales)
    }
}
