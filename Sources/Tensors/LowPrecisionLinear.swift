import CDNNL
import CKernels
import Synchronization

/// A dense layer with int8 weights for u8 × s8 GEMMs: `weight` is row-major `[outFeatures,
/// inFeatures]` with one fp32 scale per output row (per output channel), so the layer computes
/// `y[r, j] ≈ Σₖ x[r, k] · weight[j, k] · scales[j] + bias[j]`.
///
/// Activations are quantized per token when the layer runs (`GemmRunner.linear`).
public struct QuantizedLinearWeight: @unchecked Sendable {
    public let weight: UnsafePointer<Int8>
    public let scales: UnsafePointer<Float>
    /// Σₖ weight[j, k] per row: removes the activations' zero point from the s32 sums.
    public let rowSums: UnsafePointer<Int32>
    public let bias: UnsafePointer<Float>?
    /// Per input channel, what the activations are multiplied by before they are quantized
    /// (1 / the smoothing factors the weights' columns were multiplied by), or nil.
    public let inputScales: UnsafePointer<Float>?
    public let outFeatures: Int
    public let inFeatures: Int
    let owner: AnyObject?
    /// Its copies in oneDNN's blocked layouts, shared by every worker that runs it.
    public let packed = PackedWeights()

    /// The activation grid: u8, 0…255.
    public static let activationLevels = 255

    /// Quantizes an fp32 layer, each output row with its own scale.
    ///
    /// With VNNI (`vpdpbusd` sums u8 × s8 products in 32 bits) every row uses ±127. Without it,
    /// oneDNN's AVX2 and AVX-512 int8 kernels add the products of neighbouring inputs
    /// k = 2i, 2i + 1 in 16 bits with saturation (`vpmaddubsw`), so 255 · |w[2i] + w[2i+1]|
    /// must stay within 32767 for same-sign neighbours (opposite signs partly cancel and cannot
    /// overflow). Each row then takes the grid that reconstructs it with the smallest squared
    /// error among ±127, ±119, …, ±71 with any same-sign pair summing past 128 pulled in, and
    /// ±63, which needs no pulling (oneDNN's own int8 convolutions use 7 bits on such CPUs).
    /// Trained weights are bell-shaped (max ≈ 3.5 σ per row in all-MiniLM-L6-v2), so most rows
    /// land in between: finer than 7 bits, with few pairs pulled in.
    ///
    /// - Parameter smoothing: per input channel, a factor the weights' column is multiplied by
    ///   and the activations divided by before both are quantized (SmoothQuant, Xiao et al.
    ///   2023): it moves an activation channel's outliers into the weights, which quantize per
    ///   output row and take them far better than a per-token activation grid does.
    ///   With `weightsAreSmoothed`, `linear` already holds W · s and only the activations are
    ///   divided.
    public init(quantizing linear: LinearWeight, smoothing: [Float]? = nil, weightsAreSmoothed: Bool = false, vnni: Bool = CPUFeatures.hasVNNI) {
        let rows = linear.outFeatures, width = linear.inFeatures
        precondition(smoothing == nil || smoothing!.count == width, "one smoothing factor per input channel")
        let smoothed = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(width, 1))
        defer { smoothed.deallocate() }
        let weight = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(rows * width, 1), alignment: 64).bindMemory(to: Int8.self, capacity: rows * width)
        let scales = FloatBuffer(count: rows)
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(rows, 1))
        let narrow = UnsafeMutablePointer<Int8>.allocate(capacity: Swift.max(width, 1))
        defer { narrow.deallocate() }
        for row in 0..<rows {
            var source = linear.weight + row * width
            if let smoothing, !weightsAreSmoothed {
                for i in 0..<width { smoothed[i] = source[i] * smoothing[i] }
                source = UnsafePointer(smoothed)
            }
            var largest: Float = 0
            for i in 0..<width { largest = Swift.max(largest, abs(source[i])) }
            let out = weight + row * width
            var scale = Self.quantize(source, width: width, largest: largest, limit: 127, into: out)
            if !vnni {
                Self.limitPairs(out, width: width, limit: 128)
                var best = Self.squaredError(source, out, scale, width)
                for limit in stride(from: 119, through: 63, by: -8) {
                    let candidateScale = Self.quantize(source, width: width, largest: largest, limit: limit, into: narrow)
                    if limit > 64 { Self.limitPairs(narrow, width: width, limit: 128) }
                    let error = Self.squaredError(source, narrow, candidateScale, width)
                    if error < best {
                        best = error
                        scale = candidateScale
                        out.update(from: narrow, count: width)
                    }
                }
            }
            var sum: Int32 = 0
            for i in 0..<width { sum += Int32(out[i]) }
            scales.pointer[row] = scale
            sums[row] = sum
        }
        let bias = linear.bias.map { source -> FloatBuffer in
            let copy = FloatBuffer(count: rows)
            copy.pointer.update(from: source, count: rows)
            return copy
        }
        self.weight = UnsafePointer(weight)
        self.scales = UnsafePointer(scales.pointer)
        self.rowSums = UnsafePointer(sums)
        let inverse = smoothing.map { factors in FloatBuffer(factors.map { $0 > 0 ? 1 / $0 : 1 }) }
        self.bias = bias.map { UnsafePointer($0.pointer) }
        self.inputScales = inverse.map { UnsafePointer($0.pointer) }
        self.outFeatures = rows
        self.inFeatures = width
        self.owner = QuantizedStorage(weight: weight, sums: sums, buffers: [scales] + (bias.map { [$0] } ?? []) + (inverse.map { [$0] } ?? []))
    }

    private init(sharing other: QuantizedLinearWeight) {
        (weight, scales, rowSums, bias, inputScales) = (other.weight, other.scales, other.rowSums, other.bias, other.inputScales)
        (outFeatures, inFeatures, owner) = (other.outFeatures, other.inFeatures, other.owner)
    }

    /// The same layer with a cache of packed copies of its own, which goes with it (for runs,
    /// such as timing ones, whose packed layouts the model's workers would never use).
    public var withOwnPackedCopies: QuantizedLinearWeight { QuantizedLinearWeight(sharing: self) }

    /// Rounds `width` values to ±limit steps of `largest / limit`; returns the step.
    static func quantize(_ source: UnsafePointer<Float>, width: Int, largest: Float, limit: Int, into out: UnsafeMutablePointer<Int8>) -> Float {
        let bound = Float(limit)
        let scale = largest > 0 ? largest / bound : 1
        let inverse = 1 / scale
        for i in 0..<width { out[i] = Int8(Swift.min(Swift.max((source[i] * inverse).rounded(.toNearestOrEven), -bound), bound)) }
        return scale
    }

    static func squaredError(_ source: UnsafePointer<Float>, _ q: UnsafePointer<Int8>, _ scale: Float, _ width: Int) -> Double {
        var total = 0.0
        for i in 0..<width {
            let difference = Double(source[i]) - Double(q[i]) * Double(scale)
            total += difference * difference
        }
        return total
    }

    /// Pulls the larger of each same-sign neighbour pair towards 0 until |sum| ≤ limit.
    static func limitPairs(_ q: UnsafeMutablePointer<Int8>, width: Int, limit: Int) {
        var i = 0
        while i + 1 < width {
            let a = Int(q[i]), b = Int(q[i + 1])
            let sum = a + b
            if abs(sum) > limit, (a >= 0) == (b >= 0) {
                let excess = abs(sum) - limit
                let sign = sum > 0 ? 1 : -1
                if abs(a) >= abs(b) { q[i] = Int8(a - sign * excess) } else { q[i + 1] = Int8(b - sign * excess) }
            }
            i += 2
        }
    }
}

private final class QuantizedStorage: @unchecked Sendable {
    let weight: UnsafeMutablePointer<Int8>
    let sums: UnsafeMutablePointer<Int32>
    let buffers: [FloatBuffer]
    init(weight: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int32>, buffers: [FloatBuffer]) {
        self.weight = weight; self.sums = sums; self.buffers = buffers
    }
    deinit {
        UnsafeMutableRawPointer(weight).deallocate()
        sums.deallocate()
    }
}

/// A dense layer with bf16 weights (row-major `[outFeatures, inFeatures]`, rounded to nearest
/// even) and an fp32 bias, for CPUs with native bf16 GEMMs (AVX512-BF16, AMX).
public struct BF16LinearWeight: @unchecked Sendable {
    public let weight: UnsafePointer<UInt16>
    public let bias: UnsafePointer<Float>?
    public let outFeatures: Int
    public let inFeatures: Int
    let owner: AnyObject?
    public let packed = PackedWeights()

    public init(rounding linear: LinearWeight) {
        let count = linear.outFeatures * linear.inFeatures
        let buffer = FloatBuffer(count: (count + 1) / 2)
        let weight = UnsafeMutableRawPointer(buffer.pointer).bindMemory(to: UInt16.self, capacity: Swift.max(count, 1))
        biotag_f32_to_bf16(linear.weight, 1, Int32(count), Int32(count), weight, Int32(count))
        self.weight = UnsafePointer(weight)
        self.bias = linear.bias
        self.outFeatures = linear.outFeatures
        self.inFeatures = linear.inFeatures
        self.owner = [buffer, linear.owner as AnyObject] as AnyObject
    }
}

/// An int8 layer that keeps its fp32 weights for batches of fewer than `int8FromRows` rows:
/// where, on this CPU, the fp32 GEMM measured faster at few rows (`Int8LayerChoice`).
public struct RowSplitLinearWeight: Sendable {
    public let fp32: LinearWeight
    public let int8: QuantizedLinearWeight
    /// Batches of at least this many rows run int8, smaller ones fp32.
    public let int8FromRows: Int

    public init(fp32: LinearWeight, int8: QuantizedLinearWeight, int8FromRows: Int) {
        precondition(fp32.outFeatures == int8.outFeatures && fp32.inFeatures == int8.inFeatures, "one layer in two precisions")
        self.fp32 = fp32
        self.int8 = int8
        self.int8FromRows = int8FromRows
    }
}

/// A dense layer as the encoder runs it: fp32, int8 weights with dynamically quantized
/// activations, int8 with fp32 for few rows, or bf16.
public enum DenseWeight: Sendable {
    case fp32(LinearWeight)
    case int8(QuantizedLinearWeight)
    case rowSplit(RowSplitLinearWeight)
    case bf16(BF16LinearWeight)

    /// An fp32 layer as int8 from `int8FromRows` rows up (quantized per output row) and fp32
    /// below: 0 is int8 everywhere, nil or `Int.max` fp32 everywhere.
    public init(_ linear: LinearWeight, int8FromRows: Int?) {
        self.init(int8FromRows: int8FromRows, int8: { QuantizedLinearWeight(quantizing: linear) }, fp32: { linear })
    }

    /// A layer that runs int8 from `int8FromRows` rows up and fp32 below (0: int8 everywhere,
    /// nil or `Int.max`: fp32 everywhere); each version is made only if it runs.
    public init(int8FromRows: Int?, int8: () -> QuantizedLinearWeight, fp32: () -> LinearWeight) {
        switch int8FromRows {
        case nil, .max?: self = .fp32(fp32())
        case 0?: self = .int8(int8())
        case let rows?: self = .rowSplit(RowSplitLinearWeight(fp32: fp32(), int8: int8(), int8FromRows: rows))
        }
    }

    public var outFeatures: Int {
        switch self {
        case .fp32(let linear): linear.outFeatures
        case .int8(let linear): linear.outFeatures
        case .rowSplit(let split): split.int8.outFeatures
        case .bf16(let linear): linear.outFeatures
        }
    }

    public var inFeatures: Int {
        switch self {
        case .fp32(let linear): linear.inFeatures
        case .int8(let linear): linear.inFeatures
        case .rowSplit(let split): split.int8.inFeatures
        case .bf16(let linear): linear.inFeatures
        }
    }

}

extension GemmRunner {
    /// `y[rows, out] = epilogue(x[rows, in] · weightᵀ + bias)` for either kind of layer.
    public func linear(_ x: UnsafePointer<Float>, rows: Int, _ weight: DenseWeight, into y: UnsafeMutablePointer<Float>, epilogue: Epilogue = .none) throws(DNNLError) {
        switch weight {
        case .fp32(let linear): try self.linear(x, rows: rows, linear, into: y, epilogue: epilogue)
        case .int8(let linear): try self.linear(x, rows: rows, linear, into: y, epilogue: epilogue)
        case .rowSplit(let split):
            if rows >= split.int8FromRows { try self.linear(x, rows: rows, split.int8, into: y, epilogue: epilogue) }
            else { try self.linear(x, rows: rows, split.fp32, into: y, epilogue: epilogue) }
        case .bf16(let linear): try self.linear(x, rows: rows, linear, into: y, epilogue: epilogue)
        }
    }

    /// The bf16 layer: `x` rounded to bf16 once, then bf16 × bf16 → fp32 GEMMs over column
    /// blocks with the bias (and oneDNN's post-op epilogues) fused, the exact GELU after.
    public func linear(_ x: UnsafePointer<Float>, rows: Int, _ weight: BF16LinearWeight, into y: UnsafeMutablePointer<Float>, epilogue: Epilogue = .none) throws(DNNLError) {
        let n = weight.outFeatures, k = weight.inFeatures
        omp_set_num_threads(1)
        let activations = bf16Scratch(rows * k)
        biotag_f32_to_bf16(x, Int32(rows), Int32(k), Int32(k), activations, Int32(k))
        let dnnlEpilogue = epilogue.algorithm == nil ? Epilogue.none : epilogue
        try forEachColumnBlock(n: n, parts: try partCount(rows: rows, n: n, k: k, bytesPerWeight: 2)) { part, start, width throws(DNNLError) in
            var key = MatmulExecutor.Key(m: rows, n: width, k: k, lda: k, ldc: n, hasBias: weight.bias != nil, epilogue: dnnlEpilogue, packed: packWeights)
            key.types = .bf16
            try executor(part).run(key, a: activations, b: weight.weight + start * k, bias: weight.bias.map { $0 + start }, c: y + start, shared: weight.packed)
            if epilogue == .geluErf { biotag_gelu_erf(y + start, Int32(rows), Int32(width), Int32(n)) }
        }
    }

    /// The int8 layer: each row of `x` is quantized to u8 with its own scale and zero point,
    /// oneDNN computes the u8 × s8 → s32 products (column blocks split over the pool as for
    /// fp32), and one pass per block turns the sums back into fp32 with the bias and the
    /// activation.
    public func linear(_ x: UnsafePointer<Float>, rows: Int, _ weight: QuantizedLinearWeight, into y: UnsafeMutablePointer<Float>, epilogue: Epilogue = .none) throws(DNNLError) {
        let n = weight.outFeatures, k = weight.inFeatures
        omp_set_num_threads(1)
        let scratch = quantizedScratch(rows: rows, n: n, k: k)
        let threads = rows >= 16 ? pool.threads : 1
        let chunk = (rows + threads - 1) / threads
        pool.parallelFor(threads) { part in
            let start = part * chunk
            let count = Swift.min(chunk, rows - start)
            guard count > 0 else { return }
            biotag_quantize_rows_u8(x + start * k, Int32(count), Int32(k), Int32(k), weight.inputScales, Int32(QuantizedLinearWeight.activationLevels),
                                    scratch.activations + start * k, Int32(k), scratch.scales + start, scratch.zeros + start)
        }
        try forEachColumnBlock(n: n, parts: try partCount(rows: rows, n: n, k: k, bytesPerWeight: 1)) { part, start, width throws(DNNLError) in
            var key = MatmulExecutor.Key(m: rows, n: width, k: k, lda: k, ldc: n, hasBias: false, epilogue: .none, packed: packWeights)
            key.types = .u8s8
            try executor(part).run(key, a: scratch.activations, b: weight.weight + start * k, bias: nil, c: scratch.sums + start, shared: weight.packed)
            biotag_dequantize_rows(scratch.sums + start, Int32(rows), Int32(width), Int32(n), scratch.scales, scratch.zeros,
                                   weight.scales + start, weight.rowSums + start, weight.bias.map { $0 + start },
                                   y + start, Int32(n), epilogue.dequantizeActivation)
        }
    }
}
