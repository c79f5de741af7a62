import Foundation
import Tensors

/// Which of an int8 model's quantized layers run int8, and from how many rows (tokens in the
/// batch) up.
///
/// Without VNNI, oneDNN's int8 GEMM spends two or three instructions per 16 or 32 multiply-adds
/// and every call adds a quantizing and a dequantizing pass, so at batch 1 an int8 layer can be
/// slower than the same layer in fp32 (a 2-core Zen 1: 18.8 ms a sentence in int8 against 17.2
/// in fp32). `.measured` times both on this CPU when the model loads and keeps, for each layer
/// shape, the faster one at each row count.
public enum Int8LayerPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Every quantized layer runs int8 at every row count.
    case int8
    /// Each layer shape is timed in int8 and fp32 at `Int8LayerChoice.rowCounts` when the model
    /// loads; below the row count from which int8 is not slower, the layer runs fp32.
    case measured
    /// Quantized layers run fp32 below this many rows, int8 from there up (pins a choice; 0 is
    /// `.int8`, `Int.max` fp32 everywhere).
    case fp32Below(Int)

    /// The environment variable that overrides the default.
    public static let environmentKey = "BIOTAG_INT8_LAYERS"

    /// `.measured` where oneDNN's int8 GEMM has no VNNI, `.int8` where it has (there the int8
    /// GEMM is 2–3× the fp32 one at every row count measured).
    public static var cpuDefault: Int8LayerPolicy { CPUFeatures.hasVNNI ? .int8 : .measured }

    /// `BIOTAG_INT8_LAYERS` (`int8`, `measured` or `fp32-below=N`) when set, else the CPU default.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(ModelLoadError) -> Int8LayerPolicy {
        guard let value = environment[environmentKey], !value.isEmpty else { return cpuDefault }
        if let policy = Int8LayerPolicy(value) { return policy }
        throw .setting(name: environmentKey, value: value, reason: "expected int8, measured or fp32-below=N (N a row count ≥ 0)")
    }

    public init?(_ text: String) {
        switch text {
        case "int8": self = .int8
        case "measured": self = .measured
        default:
            let prefix = "fp32-below="
            guard text.hasPrefix(prefix), let rows = Int(text.dropFirst(prefix.count)), rows >= 0 else { return nil }
            self = rows == 0 ? .int8 : .fp32Below(rows)
        }
    }

    public var description: String {
        switch self {
        case .int8: "int8"
        case .measured: "measured"
        case .fp32Below(let rows): "fp32-below=\(rows)"
        }
    }
}

/// What one quantized layer shape runs, and the timings that chose it.
public struct Int8LayerChoice: Sendable, Equatable {
    /// One row count's best time of each kind, in seconds.
    public struct Timing: Sendable, Equatable {
        public let rows: Int
        public let fp32: Double
        public let int8: Double

        public init(rows: Int, fp32: Double, int8: Double) {
            self.rows = rows; self.fp32 = fp32; self.int8 = int8
        }
    }

    /// The encoder part: "qkv", "attention output", "ffn in", "ffn out".
    public let part: String
    /// Output × input features.
    public let outFeatures: Int
    public let inFeatures: Int
    /// The layers (0-based) of this part with this shape.
    public var layers: [Int]
    /// Batches of at least this many rows run int8 (0: always; `Int.max`: never).
    public let int8FromRows: Int
    /// Empty when the policy fixed the choice.
    public let timings: [Timing]

    /// The row counts `.measured` times: batch 1 of a short to a long sentence, and the
    /// beginning of batched work (the int8 GEMM's advantage grows with the rows).
    public static let rowCounts = [8, 16, 32, 64, 128, 256]

    /// fp32 must be this much faster (its time below this fraction of int8's) to be chosen:
    /// differences within the timing noise keep int8, which needs a quarter of the memory.
    public static let fp32Margin = 0.95

    /// The smallest measured row count from which int8 is never clearly slower at any larger
    /// measured count: 0 when that is every count, `Int.max` when fp32 wins at the largest.
    public static func int8FromRows(_ timings: [Timing], margin: Double = fp32Margin) -> Int {
        let sorted = timings.sorted { $0.rows < $1.rows }
        var first = sorted.count
        while first > 0, !(sorted[first - 1].fp32 < margin * sorted[first - 1].int8) { first -= 1 }
        if first == sorted.count { return sorted.isEmpty ? 0 : .max }
        return first == 0 ? 0 : sorted[first].rows
    }

    /// "int8", "fp32", or "fp32 below N rows, int8 from there".
    public var summary: String { Self.describe(int8FromRows: int8FromRows) }

    public static func describe(int8FromRows rows: Int) -> String {
        switch rows {
        case 0: "int8"
        case .max: "fp32"
        default: "fp32 below \(rows) rows, int8 from there"
        }
    }
}

/// Times int8 and fp32 versions of layer shapes once per shape on one thread, alternating the
/// two, best of `repeats` each (the minimum is what the layer costs without interference).
final class Int8LayerTimer {
    private let runner: GemmRunner
    private var decided: [Key: (Int, [Int8LayerChoice.Timing])] = [:]
    private let repeats = 3

    struct Key: Hashable { let n: Int, k: Int, epilogue: Epilogue }

    init() throws(DNNLError) { runner = try GemmRunner(pool: SpinPool(threads: 1)) }

    deinit { runner.pool.shutdown() }

    /// Where this shape runs int8 from, and the timings behind it (one measurement per shape).
    func choose(fp32 layer: LinearWeight, int8 quantized: QuantizedLinearWeight, epilogue: Epilogue) throws(DNNLError) -> (Int, [Int8LayerChoice.Timing]) {
        // Packed for this runner's one thread: the model's workers cut the columns otherwise.
        let fp32 = layer.withOwnPackedCopies, int8 = quantized.withOwnPackedCopies
        let key = Key(n: fp32.outFeatures, k: fp32.inFeatures, epilogue: epilogue)
        if let known = decided[key] { return known }
        let rows = Int8LayerChoice.rowCounts
        let largest = rows.max() ?? 1
        let input = FloatBuffer(count: largest * fp32.inFeatures)
        for i in 0..<(largest * fp32.inFeatures) { input.pointer[i] = Float(sin(Double(i) * 0.37)) }
        let output = FloatBuffer(count: largest * fp32.outFeatures)
        var timings: [Int8LayerChoice.Timing] = []
        for count in rows {
            // The first call of each kind creates its primitive and packs the weights.
            try runner.linear(input.pointer, rows: count, .fp32(fp32), into: output.pointer, epilogue: epilogue)
            try runner.linear(input.pointer, rows: count, .int8(int8), into: output.pointer, epilogue: epilogue)
            var best = (fp32: Double.infinity, int8: Double.infinity)
            for _ in 0..<repeats {
                best.fp32 = min(best.fp32, try time { () throws(DNNLError) in try runner.linear(input.pointer, rows: count, .fp32(fp32), into: output.pointer, epilogue: epilogue) })
                best.int8 = min(best.int8, try time { () throws(DNNLError) in try runner.linear(input.pointer, rows: count, .int8(int8), into: output.pointer, epilogue: epilogue) })
            }
            timings.append(Int8LayerChoice.Timing(rows: count, fp32: best.fp32, int8: best.int8))
        }
        let result = (Int8LayerChoice.int8FromRows(timings), timings)
        decided[key] = result
        return result
    }

    private func time(_ body: () throws(DNNLError) -> Void) throws(DNNLError) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return (clock.now - start).seconds
    }
}
