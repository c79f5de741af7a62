import Foundation
import Models
import Tensors
import Testing

/// GPTQ rounding (`biotag convert --calibration`): the layer's outputs on inputs like the
/// calibration set move less than with round-to-nearest, every weight stays on its int8 grid.
@Suite struct GPTQTests {
    /// Correlated inputs, as a layer after LayerNorm sees: x = z · mix, z standard normal, one
    /// channel always zero.
    static func inputs(rows: Int, width: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: 7)
        let mix = (0..<(width * width)).map { _ in Float.random(in: -1...1, using: &generator) }
        var sample = SplitMix64(seed: seed)
        var x = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows {
            let z = (0..<width).map { _ in Float.random(in: -1...1, using: &sample) + Float.random(in: -1...1, using: &sample) }
            for j in 1..<width { x[r * width + j] = (0..<width).reduce(Float(0)) { $0 + z[$1] * mix[$1 * width + j] } }
        }
        return x
    }

    static func gram(_ x: [Float], rows: Int, width: Int) -> [Double] {
        var gram = [Double](repeating: 0, count: width * width)
        x.withUnsafeBufferPointer { x in gram.withUnsafeMutableBufferPointer { accumulateGram(x.baseAddress!, rows: rows, width: width, into: $0.baseAddress!) } }
        return gram
    }

    /// Relative RMS change of x · wᵀ.
    static func outputError(_ x: [Float], _ w: [Float], _ wq: [Float], rows: Int, width: Int, outputs: Int) -> Double {
        var error = 0.0, total = 0.0
        for r in 0..<rows {
            for o in 0..<outputs {
                var exact = 0.0, rounded = 0.0
                for i in 0..<width {
                    exact += Double(x[r * width + i]) * Double(w[o * width + i])
                    rounded += Double(x[r * width + i]) * Double(wq[o * width + i])
                }
                error += (exact - rounded) * (exact - rounded); total += exact * exact
            }
        }
        return (error / total).squareRoot()
    }

    @Test func gramIsTheUpperTriangleOfXTransposeX() {
        let (rows, width) = (5, 7)
        let x = (0..<(rows * width)).map { Float($0 % 11) - 4.5 }
        let gram = Self.gram(x, rows: rows, width: width)
        for i in 0..<width {
            for j in i..<width {
                let expected = (0..<rows).reduce(0.0) { $0 + Double(x[$1 * width + i]) * Double(x[$1 * width + j]) }
                #expect(gram[i * width + j] == expected)
            }
        }
    }

    @Test(arguments: [WeightStorage.int8, .int8g32]) func gptqBeatsRoundToNearestOnHeldOutInputs(storage: WeightStorage) throws {
        let (width, outputs) = (64, 48)
        var generator = SplitMix64(seed: 11)
        let weights = (0..<(outputs * width)).map { _ in Float.random(in: -0.2...0.2, using: &generator) }
        let calibration = Self.inputs(rows: 400, width: width, seed: 1), heldOut = Self.inputs(rows: 200, width: width, seed: 2)
        let factor = try #require(GPTQFactor(gram: Self.gram(calibration, rows: 400, width: width), width: width))
        let tensor = TensorRecord(name: "layer.weight", shape: [outputs, width], floats: weights)
        func roundTrip(_ records: [TensorRecord]) throws -> [Float] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-gptq-\(UUID().uuidString).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try SafetensorsWriter.write(records, to: path)
            return try SafetensorsFile(path: path).floats("layer.weight").array
        }
        let nearest = try roundTrip(storage.encode(tensor))
        let gptq = storage.encode(tensor, factor: factor)
        #expect(gptq.map(\.dtype) == [.i8, .f16])
        let rounded = try roundTrip(gptq)
        // The channel that never carries input is dropped; every other weight stays near its value.
        for o in 0..<outputs {
            #expect(rounded[o * width] == 0)
            for i in 1..<width { #expect(abs(rounded[o * width + i] - weights[o * width + i]) < 0.02) }
        }
        let nearestError = Self.outputError(heldOut, weights, nearest, rows: 200, width: width, outputs: outputs)
        let gptqError = Self.outputError(heldOut, weights, rounded, rows: 200, width: width, outputs: outputs)
        #expect(gptqError < 0.85 * nearestError, "GPTQ \(gptqError) against round-to-nearest \(nearestError)")
    }

    @Test func unusableStatisticsGiveNoFactor() {
        #expect(GPTQFactor(gram: [Double](repeating: 0, count: 16), width: 4) == nil)
        #expect(GPTQFactor(gram: [1, 2, 3], width: 2) == nil)
        #expect(GPTQFactor(gram: [.nan, 0, 0, 1], width: 2) == nil)
    }
}
