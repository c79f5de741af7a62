import Foundation
import Models
import Testing

/// Compact weight storage reads back as fp32 within its rounding step.
@Suite struct WeightStorageTests {
    @Test(arguments: WeightStorage.allCases) func roundTrip(storage: WeightStorage) throws {
        var generator = SplitMix64(seed: 42)
        let rows = 6, width = 64
        var values = (0..<(rows * width)).map { _ in Float(Int64(generator.next() % 2001) - 1000) / 997 }
        values[5] = 40  // an outlier in row 0 coarsens its per-row step, not the other groups
        let tensors = [
            TensorRecord(name: "layer.weight", shape: [rows, width], floats: values),
            TensorRecord(name: "layer.bias", shape: [rows], floats: Array(values.prefix(rows))),
        ]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-storage-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafetensorsWriter.write(storage.convert(tensors), to: path)
        let file = try SafetensorsFile(path: path)
        let weight = try file.floats("layer.weight", shape: [rows, width]).array
        #expect(try file.floats("layer.bias").array == Array(values.prefix(rows)))
        for row in 0..<rows {
            for column in 0..<width {
                let index = row * width + column
                let group: ArraySlice<Float>
                switch storage {
                case .int8g32: group = values[(index / 32 * 32)..<(index / 32 * 32 + 32)]
                default: group = values[(row * width)..<((row + 1) * width)]
                }
                let bound: Float = switch storage {
                case .f32: 0
                case .f16: abs(values[index]) / 1024
                case .bf16: abs(values[index]) / 256
                case .int8, .int8g32: (group.map(abs).max() ?? 0) / 254 * (1 + 1 / 1024)  // fp16 scale rounded up
                }
                #expect(abs(weight[index] - values[index]) <= bound, "\(storage) [\(row), \(column)]")
            }
        }
    }

    /// Rules pick each weight's storage by name, the last match winning; biases and LayerNorm
    /// stay fp32 whatever the rules say.
    @Test func planRulesChooseStorageByName() throws {
        let plan = StoragePlan(default: .int8g32, rules: ["encoder=f16", "intermediate=int8", "heads.=f32"].compactMap(StoragePlan.rule))
        #expect(plan.description == "int8-g32,encoder=f16,intermediate=int8,heads.=f32")
        #expect(StoragePlan.rule("attention") == nil && StoragePlan.rule("=f16") == nil && StoragePlan.rule("x=f17") == nil)
        #expect(StoragePlan.rule("a=b=int8")?.part == "a=b")
        let square = [Float](repeating: 0.5, count: 64 * 64)
        let tensors = ["embeddings.word.weight", "encoder.layer.0.attention.weight", "encoder.layer.0.intermediate.dense.weight", "heads.x.dense.weight",
                       "encoder.layer.0.LayerNorm.weight"].map { TensorRecord(name: $0, shape: [64, 64], floats: square) }
        let converted = Dictionary(uniqueKeysWithValues: plan.convert(tensors).map { ($0.name, $0) })
        #expect(converted["embeddings.word.weight"]?.dtype == .i8 && converted["embeddings.word.weight.scale"]?.shape == [64, 2])
        #expect(converted["encoder.layer.0.attention.weight"]?.dtype == .f16)
        #expect(converted["encoder.layer.0.intermediate.dense.weight"]?.dtype == .i8 && converted["encoder.layer.0.intermediate.dense.weight.scale"]?.shape == [64])
        #expect(converted["heads.x.dense.weight"]?.dtype == .f32 && converted["encoder.layer.0.LayerNorm.weight"]?.dtype == .f32)
    }

    /// int8 scales are stored fp16, rounded up so no value clips, unless one falls outside fp16's
    /// normal range; then the tensor's scales are fp32, and either way the values read back.
    @Test(arguments: [(Float(0.5), DType.f16), (1e-4, .f32), (1e7, .f32)]) func scalesAreHalfWhereTheyFit(magnitude: Float, dtype: DType) throws {
        let values = (0..<64).map { Float($0 % 7 - 3) / 3 * magnitude }
        for storage in [WeightStorage.int8, .int8g32] {
            let converted = storage.encode(TensorRecord(name: "w.weight", shape: [2, 32], floats: values))
            #expect(converted.map(\.name) == ["w.weight", "w.weight.scale"] && converted[1].dtype == dtype, "\(storage) \(magnitude)")
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-scales-\(UUID().uuidString).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try SafetensorsWriter.write(converted, to: path)
            let read = try SafetensorsFile(path: path).floats("w.weight").array
            for (value, original) in zip(read, values) { #expect(abs(value - original) <= magnitude / 254 * (1 + 1 / 1024)) }
        }
    }

    @Test func mismatchedScalesAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-scales-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafetensorsWriter.write([
            TensorRecord(name: "w", dtype: .i8, shape: [2, 6], bytes: Data(repeating: 1, count: 12)),
            TensorRecord(name: "w.scale", shape: [2, 4], floats: [Float](repeating: 1, count: 8)),
        ], to: path)
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: path).floats("w") }
    }
}
