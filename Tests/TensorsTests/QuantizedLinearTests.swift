import Foundation
import Models
import Testing
import Tensors

/// The int8 layer: u8 activations quantized per token × s8 weights per output channel.
@Suite struct QuantizedLinearTests {
    /// Rows quantized as the kernel does: asymmetric, 0…levels over [min(row, 0), max(row, 0)].
    static func quantizeRow(_ row: ArraySlice<Float>, levels: Int) -> (q: [Int], scale: Float, zero: Int) {
        let lo = Swift.min(0, row.min() ?? 0), hi = Swift.max(0, row.max() ?? 0)
        let top = Float(levels)
        let scale: Float = hi > lo ? (hi - lo) / top : 1
        let inverse = 1 / scale
        let zero = Swift.min(Swift.max((-lo * inverse).rounded(.toNearestOrEven), 0), top)
        let q = row.map { Int(Swift.min(Swift.max(($0 * inverse).rounded(.toNearestOrEven) + zero, 0), top)) }
        return (q, scale, Int(zero))
    }

    /// The GEMM result is exactly the integer arithmetic of the quantized operands (so no
    /// 16-bit saturation and no lost zero point), for every split and every activation a
    /// config or a head can ask for.
    @Test(arguments: [(1, 48, 32), (7, 1152, 384), (36, 1536, 384), (36, 384, 1536), (200, 96, 64), (3, 50, 10)])
    func matchesIntegerArithmetic(rows: Int, outFeatures: Int, inFeatures: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let x = (0..<(rows * inFeatures)).map { _ in Float.random(in: -1...3, using: &generator) }
        let w = FloatBuffer((0..<(outFeatures * inFeatures)).map { _ in Float.random(in: -0.1...0.1, using: &generator) })
        let b = FloatBuffer((0..<outFeatures).map { _ in Float.random(in: -0.5...0.5, using: &generator) })
        try Self.expectIntegerArithmetic(x: x, w: w, b: b, rows: rows, outFeatures: outFeatures, inFeatures: inFeatures, threadCounts: [1, 2])
    }

    /// The per-row range scan runs in independent lanes over blocks of 16 values and a scalar
    /// tail: a row's smallest and largest value must count wherever they sit.
    @Test(arguments: [0, 7, 15, 16, 31, 32, 36])
    func rangeSeesEveryPosition(position: Int) throws {
        let (rows, outFeatures, inFeatures) = (2, 24, 37)
        var generator = SystemRandomNumberGenerator()
        var x = (0..<(rows * inFeatures)).map { _ in Float.random(in: -0.1...0.1, using: &generator) }
        x[position] = 5                                  // row 0: its maximum here
        x[inFeatures + position] = -4                    // row 1: its minimum here
        let w = FloatBuffer((0..<(outFeatures * inFeatures)).map { _ in Float.random(in: -0.1...0.1, using: &generator) })
        let b = FloatBuffer((0..<outFeatures).map { _ in Float.random(in: -0.5...0.5, using: &generator) })
        try Self.expectIntegerArithmetic(x: x, w: w, b: b, rows: rows, outFeatures: outFeatures, inFeatures: inFeatures, threadCounts: [1])
    }

    static func expectIntegerArithmetic(x: [Float], w: FloatBuffer, b: FloatBuffer, rows: Int, outFeatures: Int, inFeatures: Int, threadCounts: [Int]) throws {
        let quantized = QuantizedLinearWeight(quantizing: LinearWeight(weight: w.pointer, bias: b.pointer, outFeatures: outFeatures, inFeatures: inFeatures, owner: [w, b] as AnyObject))
        let input = FloatBuffer(x)
        for threads in threadCounts {
            let runner = try GemmRunner(pool: SpinPool(threads: threads))
            defer { runner.pool.shutdown() }
            for epilogue in [Epilogue.none, .geluErf, .geluTanh, .relu] {
                let y = FloatBuffer(count: rows * outFeatures)
                try runner.linear(input.pointer, rows: rows, quantized, into: y.pointer, epilogue: epilogue)
                var worst = 0.0
                for r in 0..<rows {
                    let (q, scale, zero) = Self.quantizeRow(x[(r * inFeatures)..<((r + 1) * inFeatures)], levels: QuantizedLinearWeight.activationLevels)
                    for o in 0..<outFeatures {
                        var sum = 0
                        for i in 0..<inFeatures { sum += (q[i] - zero) * Int(quantized.weight[o * inFeatures + i]) }
                        var expected = Double(scale) * Double(quantized.scales[o]) * Double(sum) + Double(b.pointer[o])
                        switch epilogue {
                        case .none: break
                        case .geluErf: expected = 0.5 * expected * (1 + erf(expected / 2.0.squareRoot()))
                        case .geluTanh: expected = 0.5 * expected * (1 + tanh((2 / Double.pi).squareRoot() * (expected + 0.044715 * pow(expected, 3))))
                        case .relu: expected = max(expected, 0)
                        }
                        worst = max(worst, abs(expected - Double(y.pointer[r * outFeatures + o])) / max(1, abs(expected)))
                    }
                }
                #expect(worst < 1e-5, "threads \(threads), \(epilogue): max relative diff \(worst)")
            }
        }
    }

    /// The worst cases for 16-bit pair sums: every activation at the top of its grid against
    /// weights at the top of their range, all equal, or alternating large and small (which
    /// overflows if the kernel paired inputs other than k = 2i, 2i + 1). The result must be the
    /// exact integer arithmetic of the quantized operands.
    @Test(arguments: [[Float(1)], [1, 0.01], [1, -1], [-1, 0.5, 1, 0.2]])
    func extremeOperandsDoNotSaturate(pattern: [Float]) throws {
        let rows = 4, outFeatures = 32, inFeatures = 256
        let w = FloatBuffer((0..<(outFeatures * inFeatures)).map { pattern[$0 % pattern.count] })
        let quantized = QuantizedLinearWeight(quantizing: LinearWeight(weight: w.pointer, bias: nil, outFeatures: outFeatures, inFeatures: inFeatures, owner: w))
        let x = FloatBuffer([Float](repeating: 2, count: rows * inFeatures))
        let y = FloatBuffer(count: rows * outFeatures)
        let runner = try GemmRunner(pool: SpinPool(threads: 1))
        defer { runner.pool.shutdown() }
        try runner.linear(x.pointer, rows: rows, quantized, into: y.pointer)
        for o in 0..<outFeatures {
            // x = 2 everywhere: q = levels, zero point 0, scale 2 / levels.
            let sum = (0..<inFeatures).reduce(0) { $0 + QuantizedLinearWeight.activationLevels * Int(quantized.weight[o * inFeatures + $1]) }
            let expected = Float(sum) * 2 / Float(QuantizedLinearWeight.activationLevels) * quantized.scales[o]
            for r in 0..<rows {
                #expect(abs(y.pointer[r * outFeatures + o] - expected) <= 1e-4 * abs(expected), "pattern \(pattern): \(y.pointer[r * outFeatures + o]) instead of \(expected)")
            }
        }
    }

    /// Without VNNI no two same-sign neighbours sum past 128 (255 · 128 fits 16 bits), and rows
    /// of bell-shaped weights keep the 8-bit grid; with VNNI the grid is ±127 untouched.
    @Test func gridFollowsTheInstructionSet() {
        let rows = 64, width = 384
        var generator = SplitMix64(seed: 7)
        // Sums of uniforms: roughly normal, like trained weights.
        let values = (0..<(rows * width)).map { _ in (0..<4).reduce(Float(0)) { sum, _ in sum + Float.random(in: -0.05...0.05, using: &generator) } }
        let w = FloatBuffer(values)
        let linear = LinearWeight(weight: w.pointer, bias: nil, outFeatures: rows, inFeatures: width, owner: w)
        let safe = QuantizedLinearWeight(quantizing: linear, vnni: false)
        var eightBitRows = 0
        for row in 0..<rows {
            let q = (0..<width).map { Int(safe.weight[row * width + $0]) }
            for i in stride(from: 0, to: width, by: 2) where (q[i] >= 0) == (q[i + 1] >= 0) {
                #expect(abs(q[i] + q[i + 1]) <= 128, "row \(row), inputs \(i), \(i + 1): \(q[i]) + \(q[i + 1])")
            }
            if q.map(abs).max()! > 63 { eightBitRows += 1 }
        }
        #expect(eightBitRows > rows / 2, "only \(eightBitRows) of \(rows) rows kept 8 bits")
        let full = QuantizedLinearWeight(quantizing: linear, vnni: true)
        for row in 0..<rows { #expect((0..<width).map { abs(Int(full.weight[row * width + $0])) }.max() == 127) }
    }

    /// Against fp32: the error stays within what the two quantization steps allow.
    @Test func closeToFloat() throws {
        let rows = 36, outFeatures = 384, inFeatures = 384
        var generator = SystemRandomNumberGenerator()
        let x = FloatBuffer((0..<(rows * inFeatures)).map { _ in Float.random(in: -2...2, using: &generator) })
        let w = FloatBuffer((0..<(outFeatures * inFeatures)).map { _ in Float.random(in: -0.1...0.1, using: &generator) })
        let weight = LinearWeight(weight: w.pointer, bias: nil, outFeatures: outFeatures, inFeatures: inFeatures, owner: w)
        let runner = try GemmRunner(pool: SpinPool(threads: 2))
        defer { runner.pool.shutdown() }
        let exact = FloatBuffer(count: rows * outFeatures), approximate = FloatBuffer(count: rows * outFeatures)
        try runner.linear(x.pointer, rows: rows, weight, into: exact.pointer)
        try runner.linear(x.pointer, rows: rows, QuantizedLinearWeight(quantizing: weight), into: approximate.pointer)
        var squared = 0.0, reference = 0.0
        for i in 0..<(rows * outFeatures) {
            squared += Double((exact.pointer[i] - approximate.pointer[i]) * (exact.pointer[i] - approximate.pointer[i]))
            reference += Double(exact.pointer[i] * exact.pointer[i])
        }
        // Uniform rounding noise: weights ±0.1 over 63 steps, activations 4 over 255 levels.
        let relative = (squared / reference).squareRoot()
        #expect(relative < 0.02, "relative RMS error \(relative)")
    }
}
