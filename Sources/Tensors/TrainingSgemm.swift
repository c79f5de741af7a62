import CDNNL
import Synchronization

/// A row-major GEMM operand: `pointer` to a matrix with leading dimension `ld`, read
/// transposed when `transposed` is set.
public struct GemmOperand {
    public let pointer: UnsafePointer<Float>
    public let ld: Int
    public let transposed: Bool

    public init(_ pointer: UnsafePointer<Float>, ld: Int, transposed: Bool = false) {
        self.pointer = pointer; self.ld = ld; self.transposed = transposed
    }

    /// The operand restricted to rows `start...` of op(self).
    func rows(from start: Int) -> GemmOperand {
        GemmOperand(transposed ? pointer + start : pointer + start * ld, ld: ld, transposed: transposed)
    }

    /// The operand restricted to columns `start...` of op(self).
    func columns(from start: Int) -> GemmOperand {
        GemmOperand(transposed ? pointer + start * ld : pointer + start, ld: ld, transposed: transposed)
    }
}

/// `c[m, n] = alpha · op(a)[m, k] · op(b)[k, n] + beta · c` on the calling thread, through
/// oneDNN's BLAS-like `dnnl_sgemm` (row-major). Training needs all three transpose patterns of a
/// dense layer (forward, input gradient, weight gradient) on weights that change every step,
/// which the weight-packing matmul primitives of `GemmRunner` are not made for.
public func sgemm(
    m: Int, n: Int, k: Int, alpha: Float = 1, _ a: GemmOperand, _ b: GemmOperand,
    beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
) throws(DNNLError) {
    guard m > 0, n > 0 else { return }
    omp_set_num_threads(1)
    try check(
        dnnl_sgemm(a.transposed ? 84 : 78, b.transposed ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                   a.pointer, Int64(a.ld), b.pointer, Int64(b.ld), beta, c, Int64(ldc)),
        "dnnl_sgemm(m: \(m), n: \(n), k: \(k))")
}

extension SpinPool {
    /// `sgemm` with the output cut into one block per thread, along its longer side.
    public func sgemm(
        m: Int, n: Int, k: Int, alpha: Float = 1, _ a: GemmOperand, _ b: GemmOperand,
        beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) throws(DNNLError) {
        let parts = m * n * k >= 1 << 18 ? threads : 1
        if parts == 1 {
            try Tensors.sgemm(m: m, n: n, k: k, alpha: alpha, a, b, beta: beta, c, ldc: ldc)
            return
        }
        let splitColumns = n >= m
        let extent = splitColumns ? n : m
        let block = ((extent + parts - 1) / parts + 15) / 16 * 16
        let failure = Mutex<DNNLError?>(nil)
        parallelFor(parts) { part in
            let start = part * block
            let size = Swift.min(block, extent - start)
            guard size > 0 else { return }
            do throws(DNNLError) {
                if splitColumns {
                    try Tensors.sgemm(m: m, n: size, k: k, alpha: alpha, a, b.columns(from: start), beta: beta, c + start, ldc: ldc)
                } else {
                    try Tensors.sgemm(m: size, n: n, k: k, alpha: alpha, a.rows(from: start), b, beta: beta, c + start * ldc, ldc: ldc)
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Runs `body` on about equal contiguous slices of `0..<count`, one per thread
    /// (one slice when `count` is below `minimum`).
    public func parallelSlices(_ count: Int, minimum: Int = 16, _ body: (Range<Int>) -> Void) {
        let parts = count >= minimum ? Swift.min(threads, count) : 1
        let chunk = (count + parts - 1) / Swift.max(parts, 1)
        parallelFor(parts) { part in
            let start = part * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}
