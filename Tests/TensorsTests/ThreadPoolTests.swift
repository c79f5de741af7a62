import Foundation
import Synchronization
import Testing
import Tensors

@Suite struct ThreadPoolTests {
    final class Counts: @unchecked Sendable {
        var values: [Int]
        init(_ count: Int) { values = [Int](repeating: 0, count: count) }
    }

    /// Every index runs exactly once, on fresh pools used at once (a task published before a
    /// helper thread first runs must still be taken) and across many rounds.
    @Test(arguments: [1, 2, 3, 4])
    func everyIndexRunsOnce(threads: Int) {
        for _ in 0..<20 {
            let pool = SpinPool(threads: threads)
            let total = Atomic<Int>(0)
            for round in 0..<50 {
                let count = round % 17
                let counts = Counts(count)
                pool.parallelFor(count) { index in
                    counts.values[index] += 1
                    total.add(1, ordering: .relaxed)
                }
                #expect(counts.values.allSatisfy { $0 == 1 })
            }
            #expect(total.load(ordering: .relaxed) == (0..<50).reduce(0) { $0 + $1 % 17 })
            pool.shutdown()
        }
    }

    /// A pool whose helpers fell asleep (past the spin limit) still finishes the next task.
    @Test func wakesSleepingHelpers() {
        let pool = SpinPool(threads: 2, spinLimit: 10)
        let counts = Counts(8)
        for _ in 0..<5 {
            usleep(2000)
            pool.parallelFor(8) { counts.values[$0] += 1 }
        }
        #expect(counts.values == [Int](repeating: 5, count: 8))
        pool.shutdown()
    }
}

@Suite struct GemmTests {
    /// oneDNN through `GemmRunner` (column blocks, threads, packed weights, GELU) against a naive
    /// triple loop in Double.
    @Test(arguments: [(1, 48, 32), (7, 1152, 384), (36, 1536, 384), (36, 384, 1536), (200, 96, 64), (3, 50, 10)])
    func linearMatchesNaiveLoop(rows: Int, outFeatures: Int, inFeatures: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let x = FloatBuffer((0..<(rows * inFeatures)).map { _ in Float.random(in: -1...1, using: &generator) })
        let w = FloatBuffer((0..<(outFeatures * inFeatures)).map { _ in Float.random(in: -0.1...0.1, using: &generator) })
        let b = FloatBuffer((0..<outFeatures).map { _ in Float.random(in: -0.5...0.5, using: &generator) })
        let weight = LinearWeight(weight: w.pointer, bias: b.pointer, outFeatures: outFeatures, inFeatures: inFeatures, owner: [w, b] as AnyObject)
        for threads in [1, 2] {
            let runner = try GemmRunner(pool: SpinPool(threads: threads))
            defer { runner.pool.shutdown() }
            for epilogue in [Epilogue.none, .geluErf, .relu] {
                let y = FloatBuffer(count: rows * outFeatures)
                try runner.linear(x.pointer, rows: rows, weight, into: y.pointer, epilogue: epilogue)
                var worst = 0.0
                for r in 0..<rows {
                    for o in 0..<outFeatures {
                        var sum = Double(b.pointer[o])
                        for i in 0..<inFeatures { sum += Double(x.pointer[r * inFeatures + i]) * Double(w.pointer[o * inFeatures + i]) }
                        let expected: Double = switch epilogue {
                        case .none: sum
                        case .geluErf: 0.5 * sum * (1 + erf(sum / 2.0.squareRoot()))
                        case .geluTanh: 0.5 * sum * (1 + tanh((2 / Double.pi).squareRoot() * (sum + 0.044715 * sum * sum * sum)))
                        case .relu: max(0, sum)
                        }
                        worst = max(worst, abs(expected - Double(y.pointer[r * outFeatures + o])))
                    }
                }
                #expect(worst < 2e-5, "threads \(threads), \(epilogue): max abs diff \(worst)")
            }
        }
    }

    @Test func layerNormMatchesNaiveFormula() {
        let rows = 5, width = 37
        var generator = SystemRandomNumberGenerator()
        let x = (0..<(rows * width)).map { _ in Float.random(in: -3...3, using: &generator) }
        let residual = (0..<(rows * width)).map { _ in Float.random(in: -1...1, using: &generator) }
        let gamma = (0..<width).map { _ in Float.random(in: 0.5...1.5, using: &generator) }
        let beta = (0..<width).map { _ in Float.random(in: -0.5...0.5, using: &generator) }
        let buffer = FloatBuffer(x)
        addLayerNorm(buffer.pointer, residual: residual, rows: rows, width: width, gamma: gamma, beta: beta, epsilon: 1e-12)
        var worst = 0.0
        for r in 0..<rows {
            let row = (0..<width).map { Double(x[r * width + $0] + residual[r * width + $0]) }
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            for i in 0..<width {
                let expected = (row[i] - mean) / (variance + 1e-12).squareRoot() * Double(gamma[i]) + Double(beta[i])
                worst = max(worst, abs(expected - Double(buffer.pointer[r * width + i])))
            }
        }
        #expect(worst < 1e-5, "max abs diff \(worst)")
    }
}
