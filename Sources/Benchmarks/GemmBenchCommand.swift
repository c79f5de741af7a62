import ArgumentParser
import CommandLineSupport
import Foundation
import Tensors

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "oneDNN GEMM speed in isolation (the ceiling for the encoder's linear layers), fp32 or int8.",
        discussion: "y[M, N] = x[M, K] · W[N, K]ᵀ + b for the given shapes, weights packed once, reported in GFLOPS (GOPS for int8). int8 times the whole layer as the encoder runs it: activations quantized per row, the u8 × s8 GEMM, and the pass back to fp32.")

    @Option(help: "Row counts to measure (comma-separated).")
    var rows: String = "1,36,128,1152"

    @Option(help: "Weight shapes N×K (comma-separated), default: MiniLM's and BERT-base's linear layers.")
    var shapes: String = "1152x384,384x384,1536x384,384x1536,2304x768,768x768,3072x768,768x3072"

    @Option(help: "Threads splitting each GEMM.")
    var threads: Int = 1

    @Flag(help: "Apply the exact GELU in the GEMM epilogue (as the FFN's first layer does).")
    var gelu = false

    @Flag(help: "Time the int8 layer (dynamic quantization) instead of fp32.")
    var int8 = false

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 0.3

    func run() throws {
        let runner = try GemmRunner(pool: SpinPool(threads: threads))
        defer { runner.pool.shutdown() }
        let ms = rows.split(separator: ",").compactMap { Int($0) }
        let nk = shapes.split(separator: ",").compactMap { shape -> (Int, Int)? in
            let parts = shape.split(separator: "x").compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        guard !ms.isEmpty, !nk.isEmpty else { throw ValidationError("--rows and --shapes need values like 36 and 1536x384") }
        print("threads \(threads), \(CPUFeatures.instructionSet)")
        print("    M      N      K   µs/call   GFLOPS")
        for (n, k) in nk {
            let weight = FloatBuffer((0..<(n * k)).map { Float(($0 % 7) - 3) * 0.01 })
            let bias = FloatBuffer(count: n)
            bias.pointer.update(repeating: 0.1, count: n)
            let fp32 = LinearWeight(weight: weight.pointer, bias: bias.pointer, outFeatures: n, inFeatures: k, owner: [weight, bias] as AnyObject)
            let linear: DenseWeight = int8 ? .int8(QuantizedLinearWeight(quantizing: fp32)) : .fp32(fp32)
            for m in ms {
                let x = FloatBuffer(count: m * k), y = FloatBuffer(count: m * n)
                x.pointer.update(repeating: 0.5, count: m * k)
                try runner.linear(x.pointer, rows: m, linear, into: y.pointer, epilogue: gelu ? .geluErf : .none)
                var calls = 0
                let start = ContinuousClock.now
                while (ContinuousClock.now - start).seconds < seconds {
                    for _ in 0..<10 { try runner.linear(x.pointer, rows: m, linear, into: y.pointer, epilogue: gelu ? .geluErf : .none) }
                    calls += 10
                }
                let elapsed = (ContinuousClock.now - start).seconds
                let perCall = elapsed / Double(calls)
                print(String(format: "%5d  %5d  %5d  %8.1f  %7.1f", m, n, k, perCall * 1e6, 2 * Double(m * n * k) / perCall / 1e9))
            }
        }
    }
}
