import CDNNL
import CKernels
import Synchronization

/// Runs dense layers through oneDNN, optionally splitting each GEMM along its output features
/// over the threads of a `SpinPool`, each part a single-threaded oneDNN call.
///
/// One `GemmRunner` serves one inference worker: it is not reentrant.
public final class GemmRunner: @unchecked Sendable {
    public let pool: SpinPool
    private var executors: [MatmulExecutor]
    /// Below this many multiply-adds a GEMM runs on one thread: splitting costs more than it saves.
    public var minimumSplitWork = 1 << 18
    /// Reorder weights once into the blocked layout oneDNN prefers (instead of packing them on
    /// every call); costs one extra copy of the weights in memory.
    public var packWeights = true

    public init(pool: SpinPool) throws(DNNLError) {
        self.pool = pool
        var executors: [MatmulExecutor] = []
        for _ in 0..<pool.threads { executors.append(try MatmulExecutor()) }
        self.executors = executors
    }

    /// How many column blocks a GEMM is cut into (one executor each).
    ///
    /// With few rows, oneDNN 2.6's AVX2 kernel slows down as the weight grows past the L2 cache
    /// (one thread, M = 36: 89 GFLOPS at N×K = 384×384, 65 at 1536×384, 41 at 3072×768 —
    /// `biotag bench gemm`), so small-M GEMMs are cut into blocks of about 0.75 MB of weights
    /// (at least 128, at most 384 columns), a multiple of the thread count. With many rows the
    /// blocks would re-read the activations instead (1152 rows: 64 GFLOPS at N = 384 against 72
    /// at 1536), so those are only split across threads.
    /// Measured on 2 threads, M = 36: 1536×384 319 → 285 µs, 2304×768 956 → 888 µs,
    /// 3072×768 1796 → 1409 µs.
    func partCount(rows: Int, n: Int, k: Int, bytesPerWeight: Int = MemoryLayout<Float>.size) throws(DNNLError) -> Int {
        let threads = rows * n * k >= minimumSplitWork ? pool.threads : 1
        var parts = threads
        // Only where a thread's share of the weight passes 1 MB (twice this Zen 3's 512 KB L2:
        // cutting MiniLM's QKV and FFN-in finer, at 512 KB, measured no faster in the model) and
        // K is small enough that re-reading the activations per block stays cheap (K = 3072 got
        // slower: 1184 → 1307 µs at M = 36 on 2 threads).
        if rows <= Self.smallRowLimit, k <= 1024, (n / threads) * k * bytesPerWeight > 1 << 20 {
            let blockWidth = Swift.max(128, Swift.min(384, 786_432 / bytesPerWeight / Swift.max(k, 1) / 16 * 16))
            let blocks = (n + blockWidth - 1) / blockWidth
            parts = Swift.max(parts, (blocks + threads - 1) / threads * threads)
        }
        parts = Swift.max(1, Swift.min(parts, n / 16))
        while executors.count < parts { executors.append(try MatmulExecutor()) }
        return parts
    }

    static let smallRowLimit = 128

    func executor(_ part: Int) -> MatmulExecutor { executors[part] }

    /// Where an int8 layer keeps its quantized activations, their per-row scales and zero
    /// points, and the s32 sums.
    struct QuantizedScratch {
        let activations: UnsafeMutablePointer<UInt8>
        let scales: UnsafeMutablePointer<Float>
        let zeros: UnsafeMutablePointer<Int32>
        let sums: UnsafeMutablePointer<Int32>
    }

    private var activationSlot = ScratchSlot(), rowSlot = ScratchSlot(), sumSlot = ScratchSlot()

    /// Where a bf16 layer keeps its rounded activations.
    func bf16Scratch(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(activationSlot.take((count + 1) / 2)).bindMemory(to: UInt16.self, capacity: count)
    }

    func quantizedScratch(rows: Int, n: Int, k: Int) -> QuantizedScratch {
        let activations = UnsafeMutableRawPointer(activationSlot.take((rows * k + 3) / 4)).bindMemory(to: UInt8.self, capacity: rows * k)
        let rowValues = rowSlot.take(2 * rows)
        let sums = UnsafeMutableRawPointer(sumSlot.take(rows * n)).bindMemory(to: Int32.self, capacity: rows * n)
        let zeros = UnsafeMutableRawPointer(rowValues + rows).bindMemory(to: Int32.self, capacity: rows)
        return QuantizedScratch(activations: activations, scales: rowValues, zeros: zeros, sums: sums)
    }

    /// `y[rows, out] = epilogue(x[rows, in] · weightᵀ + bias)`.
    /// - Parameters:
    ///   - x: `[rows, weight.inFeatures]`, row-major, consecutive rows `inputStride` apart
    ///     (default `inFeatures`: a slice of columns of a wider matrix is read in place).
    ///   - y: `[rows, weight.outFeatures]`, row-major.
    public func linear(_ x: UnsafePointer<Float>, rows: Int, _ weight: LinearWeight, into y: UnsafeMutablePointer<Float>, epilogue: Epilogue = .none,
                       inputStride: Int? = nil) throws(DNNLError) {
        let n = weight.outFeatures, k = weight.inFeatures
        omp_set_num_threads(1)
        // oneDNN runs only the epilogues it has a post-op for; the erf GELU is applied after it.
        let dnnlEpilogue = epilogue.algorithm == nil ? Epilogue.none : epilogue
        try forEachColumnBlock(n: n, parts: try partCount(rows: rows, n: n, k: k)) { part, start, width throws(DNNLError) in
            let key = MatmulExecutor.Key(m: rows, n: width, k: k, lda: inputStride ?? k, ldc: n, hasBias: weight.bias != nil, epilogue: dnnlEpilogue, packed: packWeights)
            try executors[part].run(key, a: x, b: weight.weight + start * k, bias: weight.bias.map { $0 + start }, c: y + start, shared: weight.packed)
            if epilogue == .geluErf { biotag_gelu_erf(y + start, Int32(rows), Int32(width), Int32(n)) }
        }
    }

    /// Runs `body(part, start, width)` for `parts` column blocks of `n` outputs (a multiple of 16
    /// wide: one AVX-512 register, two AVX2 registers) over the pool; rethrows the first error.
    func forEachColumnBlock(n: Int, parts: Int, _ body: (_ part: Int, _ start: Int, _ width: Int) throws(DNNLError) -> Void) throws(DNNLError) {
        let block = ((n + parts - 1) / parts + 15) / 16 * 16
        let failure = Mutex<DNNLError?>(nil)
        pool.parallelFor(parts) { part in
            let start = part * block
            let width = Swift.min(block, n - start)
            guard width > 0 else { return }
            do throws(DNNLError) { try body(part, start, width) } catch { failure.withLock { $0 = error } }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
