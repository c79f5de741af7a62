import Foundation
import Models
import Tensors
import Testing
import TestSupport

/// `biotag quantize` end to end: the int8 and bf16 directories it writes, run against the fp32
/// hidden states of Hugging Face's MiniLM.
@Suite struct QuantizeCommandTests {
    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("biotag-quantize-\(name)-\(UUID().uuidString)").path
    }

    /// Mean over the 16 fixture texts of the relative RMS error of the last hidden state.
    static func error(of directory: String, precision: ComputePrecision? = nil) throws -> Double {
        let model = try MultiTaskModel(directory: directory, precision: precision)
        let runner = try EncoderRunner(weights: model.encoder, threads: 2)
        defer { runner.shutdown() }
        let fixture = try SafetensorsFile(path: TestPaths.fixture("minilm/hidden_states.safetensors"))
        var total = 0.0
        for k in 0..<16 {
            let ids = try fixture.integers("ids\(k)").map(Int32.init)
            let expected = try fixture.floats("s\(k)", shape: [ids.count, 384])
            let got = try runner.forward(PackedBatch([ids]))
            var squared = 0.0, reference = 0.0
            for i in 0..<expected.count {
                squared += Double((got[i] - expected.pointer[i]) * (got[i] - expected.pointer[i]))
                reference += Double(expected.pointer[i] * expected.pointer[i])
            }
            total += (squared / reference).squareRoot()
        }
        return total / 16
    }

    @Test func int8CloseToFloatAndCalibrationHelps() throws {
        let plain = Self.temporary("plain"), calibrated = Self.temporary("calibrated")
        defer { for path in [plain, calibrated] { try? FileManager.default.removeItem(atPath: path) } }
        let first = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "int8", "--out", plain])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "int8", "--out", calibrated,
                                            "--calibration", TestPaths.data("disease/train.tsv"), "--calibration", TestPaths.data("chemical/train.tsv"),
                                            "--calibration-limit", "64"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("calibrated on 64 sentences"), "\(second.stderr)")

        let size = { (path: String) in (try FileManager.default.attributesOfItem(atPath: path + "/model.safetensors")[.size] as? Int) ?? 0 }
        #expect(try size(calibrated) * 3 < size(TestPaths.minilm), "int8 should be under a third of fp32")
        let model = try MultiTaskModel(directory: calibrated, int8Layers: .int8)
        #expect(model.encoder.precision == .int8 && model.encoder.quantizedLayerCount == 24)
        let info = try BiotagCommand.run(["info", "--model", calibrated], environment: [Int8LayerPolicy.environmentKey: "int8"])
        #expect(info.output.contains("compute:        int8 (24 of 24 linear layers int8"), "\(info.output)")
        #expect(info.output.contains("ffn in 1536×384 (6 layers): int8\n"), "\(info.output)")
        // Pinned: every layer keeps fp32 weights for batches below 64 rows, and `info` says so.
        let pinned = try BiotagCommand.run(["info", "--model", calibrated], environment: [Int8LayerPolicy.environmentKey: "fp32-below=64"])
        #expect(pinned.output.contains("int8 layers:    pinned by BIOTAG_INT8_LAYERS=fp32-below=64"), "\(pinned.output)")
        #expect(pinned.output.contains("qkv 1152×384 (6 layers): fp32 below 64 rows, int8 from there"), "\(pinned.output)")
        // A smoothed layer kept in fp32 by the int8 layer choice runs its weights divided back,
        // exactly as an fp32 run of the same directory does.
        let ids: [[Int32]] = [Array(1000..<1012), Array(2000..<2030)]
        func hidden(_ model: MultiTaskModel) throws -> [Float] {
            let runner = try EncoderRunner(weights: model.encoder, threads: 2)
            defer { runner.shutdown() }
            return Array(UnsafeBufferPointer(start: try runner.forward(PackedBatch(ids)), count: 42 * model.config.hiddenSize))
        }
        func largestDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        let keptFloat = try hidden(try MultiTaskModel(directory: calibrated, int8Layers: .fp32Below(.max)))
        #expect(largestDifference(keptFloat, try hidden(try MultiTaskModel(directory: calibrated, precision: .fp32))) == 0)
        #expect(largestDifference(keptFloat, try hidden(model)) > 1e-4)
        let refused = try BiotagCommand.run(["info", "--model", calibrated], environment: [Int8LayerPolicy.environmentKey: "fastest"])
        #expect(refused.status != 0 && refused.stderr.contains("BIOTAG_INT8_LAYERS=fastest: expected int8, measured or fp32-below=N"), "\(refused.stderr)")
        // An annotation run refused for the setting leaves the output it would have replaced as it was.
        let input = Self.temporary("input") + ".txt", output = Self.temporary("output") + ".jsonl"
        defer { for path in [input, output] { try? FileManager.default.removeItem(atPath: path) } }
        try "Cisplatin caused nephrotoxicity in mice.\n".write(toFile: input, atomically: true, encoding: .utf8)
        try "kept\n".write(toFile: output, atomically: true, encoding: .utf8)
        let annotate = try BiotagCommand.run(["annotate", input, "--model", calibrated, "-o", output], environment: [Int8LayerPolicy.environmentKey: "fp32-below=-1"])
        #expect(annotate.status != 0 && annotate.stderr.contains("BIOTAG_INT8_LAYERS=fp32-below=-1: expected int8, measured or fp32-below=N"), "\(annotate.stderr)")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "kept\n")

        let plainError = try Self.error(of: plain), calibratedError = try Self.error(of: calibrated)
        #expect(plainError < 0.2 && calibratedError < 0.1, "relative RMS error: plain \(plainError), calibrated \(calibratedError)")
        #expect(calibratedError < plainError, "smoothing should lower the error: plain \(plainError), calibrated \(calibratedError)")
        // Run in fp32, the smoothed weights are divided back: only the int8 weight rounding remains.
        let widened = try Self.error(of: calibrated, precision: .fp32)
        #expect(widened < calibratedError && widened < 0.05, "fp32 run of the int8 weights: \(widened)")
    }

    @Test func bf16StoresHalfAndRunsWhereItCan() throws {
        let out = Self.temporary("bf16")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "bf16", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        let file = try SafetensorsFile(path: out + "/model.safetensors")
        #expect(file.header.tensors["encoder.layer.0.intermediate.dense.weight"]?.dtype == .bf16)
        #expect(file.header.metadata[ComputePrecision.metadataKey] == "bf16")
        let model = try MultiTaskModel(directory: out)
        #expect(model.encoder.precision == (CPUFeatures.hasBF16 ? .bf16 : .fp32))
        let error = try Self.error(of: out)
        #expect(error < 0.02, "bf16 relative RMS error \(error)")
    }

    @Test func badArgumentsAreRefused() throws {
        let out = Self.temporary("bad")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let fp32 = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "fp32", "--out", out])
        #expect(fp32.status != 0 && fp32.stderr.contains("--mode fp32"), "\(fp32.stderr)")
        let missing = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "int8", "--out", out, "--calibration", "/nonexistent/cal.tsv"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/cal.tsv"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/model.safetensors"), "nothing is written when calibration fails")
        let bf16 = try BiotagCommand.run(["quantize", "--model", TestPaths.minilm, "--mode", "bf16", "--out", out, "--calibration", TestPaths.data("disease/train.tsv")])
        #expect(bf16.status != 0 && bf16.stderr.contains("--calibration applies to --mode int8"), "\(bf16.stderr)")
        // A temporary copy of a small model: nothing of it may be lost.
        let same = try BiotagCommand.run(["quantize", "--model", TestModels.twoHeads, "--mode", "int8", "--out", TestModels.twoHeads + "/"])
        #expect(same.status != 0 && same.stderr.contains("the output directory is the model directory"), "\(same.stderr)")
        #expect(try MultiTaskModel(directory: TestModels.twoHeads).tasks.count == 2)
        let noModel = try BiotagCommand.run(["quantize", "--model", "/nonexistent/model", "--mode", "int8", "--out", out])
        #expect(noModel.status != 0 && noModel.stderr.contains("/nonexistent/model"), "\(noModel.stderr)")
    }

    static func values(_ tensor: FloatTensor) -> [Float] {
        Array(UnsafeBufferPointer(start: tensor.pointer, count: tensor.shape.reduce(1, *)))
    }

    /// `convert --keep-layers`: the chosen layers, renumbered in order, everything else as it was;
    /// all six in order is the same model.
    @Test func keepLayersMakesASmallerModelFromChosenLayers() throws {
        let all = Self.temporary("all"), three = Self.temporary("three")
        defer { for path in [all, three] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(try BiotagCommand.run(["convert", "--model", TestPaths.minilm, "--out", all, "--weights", "f32", "--keep-layers", "0,1,2,3,4,5"]).status == 0)
        #expect(try Self.error(of: all) == Self.error(of: TestPaths.minilm))
        let result = try BiotagCommand.run(["convert", "--model", TestPaths.minilm, "--out", three, "--weights", "f32", "--keep-layers", "0,2,4"])
        #expect(result.status == 0, "\(result.stderr)")
        let config = try EncoderConfig.load(path: three + "/config.json")
        #expect(config.layers == 3 && config.hiddenSize == 384)
        let source = try SafetensorsFile(path: TestPaths.minilm + "/model.safetensors"), smaller = try SafetensorsFile(path: three + "/model.safetensors")
        #expect(smaller.header.metadata["biotag.layers-kept"] == "0,2,4 of 6")
        for (new, old) in [(0, 0), (1, 2), (2, 4)] {
            let names = source.names.filter { $0.contains("layer.\(old).") }
            #expect(names.count == 16)
            for name in names {
                #expect(try Self.values(smaller.floats(name.replacingOccurrences(of: "layer.\(old).", with: "layer.\(new).")))
                        == Self.values(source.floats(name)), "\(name)")
            }
        }
        #expect(!smaller.names.contains { $0.contains("layer.3.") })
        _ = try MultiTaskModel(directory: three)
        for (layers, message) in [("0,6", "has 6 layers"), ("1,1", "distinct layer numbers"), ("", "distinct layer numbers")] {
            let bad = try BiotagCommand.run(["convert", "--model", TestPaths.minilm, "--out", Self.temporary("bad"), "--weights", "f32", "--keep-layers", layers])
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(layers): \(bad.stderr)")
        }
    }
}
