import Foundation
import Models
import Tensors
import Testing
import TestSupport

/// Which int8 layers run fp32, and below how many rows: the rule that reads the timings, the
/// setting that pins it, and a model that runs each precision on its side of the row count.
@Suite struct Int8LayerChoiceTests {
    typealias Timing = Int8LayerChoice.Timing

    @Test func rowCountFromTimings() {
        let rows = [8, 16, 32, 64, 128]
        func timings(_ pairs: [(Double, Double)]) -> [Timing] {
            zip(rows, pairs).map { Timing(rows: $0, fp32: $1.0, int8: $1.1) }
        }
        // int8 faster everywhere: int8 everywhere.
        #expect(Int8LayerChoice.int8FromRows(timings([(2, 1), (4, 2), (8, 4), (16, 8), (32, 16)])) == 0)
        // fp32 faster up to 16 rows: fp32 below 32.
        #expect(Int8LayerChoice.int8FromRows(timings([(1, 2), (2, 3), (4, 4), (8, 6), (16, 10)])) == 32)
        // fp32 faster at the largest count: fp32 everywhere, whatever smaller counts say.
        #expect(Int8LayerChoice.int8FromRows(timings([(1, 0.5), (2, 1), (4, 2), (8, 4), (16, 20)])) == .max)
        // fp32 within the margin of int8 is noise: int8 keeps it.
        #expect(Int8LayerChoice.int8FromRows(timings([(0.97, 1), (1.9, 2), (4, 4), (8, 8), (16, 16)])) == 0)
        // A win for fp32 at 16 rows sends every smaller count to fp32 too: one row count splits.
        #expect(Int8LayerChoice.int8FromRows(timings([(2, 1), (1, 2), (4, 2), (8, 4), (16, 8)])) == 32)
        // Unsorted input reads the same.
        #expect(Int8LayerChoice.int8FromRows(timings([(1, 2), (2, 3), (4, 4), (8, 6), (16, 10)]).reversed()) == 32)
        #expect(Int8LayerChoice.int8FromRows([]) == 0)
    }

    @Test func settingIsReadOrRefused() throws {
        let key = Int8LayerPolicy.environmentKey
        #expect(try Int8LayerPolicy.fromEnvironment([:]) == Int8LayerPolicy.cpuDefault)
        #expect(try Int8LayerPolicy.fromEnvironment([key: ""]) == Int8LayerPolicy.cpuDefault)
        #expect(try Int8LayerPolicy.fromEnvironment([key: "int8"]) == .int8)
        #expect(try Int8LayerPolicy.fromEnvironment([key: "measured"]) == .measured)
        #expect(try Int8LayerPolicy.fromEnvironment([key: "fp32-below=48"]) == .fp32Below(48))
        #expect(try Int8LayerPolicy.fromEnvironment([key: "fp32-below=0"]) == .int8)
        #expect(Int8LayerPolicy.cpuDefault == (CPUFeatures.hasVNNI ? .int8 : .measured))
        for bad in ["fast", "fp32-below=", "fp32-below=-3", "fp32-below=x", "INT8"] {
            #expect(throws: ModelLoadError.setting(name: key, value: bad, reason: "expected int8, measured or fp32-below=N (N a row count ≥ 0)")) {
                try Int8LayerPolicy.fromEnvironment([key: bad])
            }
        }
    }

    static let model = TestPaths.fixture("arch/cased-bert")

    static func hiddenStates(_ encoder: EncoderWeights, _ batch: PackedBatch) throws -> [Float] {
        let runner = try EncoderRunner(weights: encoder, threads: 2)
        defer { runner.shutdown() }
        return Array(UnsafeBufferPointer(start: try runner.forward(batch), count: batch.tokenCount * encoder.config.hiddenSize))
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Pinned at 20 rows: a 9-token batch runs exactly as fp32 does, a 36-token one exactly as
    /// int8 does, and the two precisions do differ on both.
    @Test func rowSplitRunsEachPrecisionOnItsSide() throws {
        let loaded = try MultiTaskModel(directory: Self.model)
        let small = PackedBatch([Array(100..<109)]), large = PackedBatch([Array(200..<220), Array(300..<316)])
        #expect(small.tokenCount < 20 && large.tokenCount >= 20)
        let file = loaded.weightsFile, config = loaded.config
        let fp32 = try EncoderWeights(config: config, file: file, precision: .fp32)
        let int8 = try EncoderWeights(config: config, file: file, precision: .int8, int8Layers: .int8)
        let split = try EncoderWeights(config: config, file: file, precision: .int8, int8Layers: .fp32Below(20))
        #expect(split.quantizedLayerCount == 4 * config.layers)
        #expect(split.int8Layers.map(\.int8FromRows) == [20, 20, 20, 20] && split.int8Layers.allSatisfy { $0.layers == [0, 1] && $0.timings.isEmpty })
        #expect(split.int8Layers.map(\.part) == ["qkv", "attention output", "ffn in", "ffn out"])
        #expect(split.int8Layers.map(\.outFeatures) == [3 * config.hiddenSize, config.hiddenSize, config.intermediateSize, config.hiddenSize])
        for batch in [small, large] {
            let f = try Self.hiddenStates(fp32, batch), q = try Self.hiddenStates(int8, batch), s = try Self.hiddenStates(split, batch)
            #expect(Self.largestDifference(f, q) > 1e-4, "fp32 and int8 should differ")
            let same = batch.tokenCount < 20 ? f : q
            #expect(Self.largestDifference(s, same) == 0, "\(batch.tokenCount) rows")
        }
        let never = try EncoderWeights(config: config, file: file, precision: .int8, int8Layers: .fp32Below(.max))
        #expect(never.quantizedLayerCount == 0 && never.int8Layers.allSatisfy { $0.int8FromRows == .max })
        #expect(Self.largestDifference(try Self.hiddenStates(never, large), try Self.hiddenStates(fp32, large)) == 0)
    }

    /// Measured: every shape is timed at every row count, each choice is what the rule reads
    /// from its timings, every layer is accounted for once per part, and fp32 models skip it.
    @Test func measuredChoiceFollowsItsTimings() throws {
        let loaded = try MultiTaskModel(directory: Self.model)
        let encoder = try EncoderWeights(config: loaded.config, file: loaded.weightsFile, precision: .int8, int8Layers: .measured)
        #expect(encoder.int8Policy == .measured)
        for choice in encoder.int8Layers {
            #expect(choice.timings.map(\.rows) == Int8LayerChoice.rowCounts)
            #expect(choice.timings.allSatisfy { $0.fp32 > 0 && $0.int8 > 0 && $0.fp32.isFinite && $0.int8.isFinite })
            #expect(choice.int8FromRows == Int8LayerChoice.int8FromRows(choice.timings))
        }
        for part in ["qkv", "attention output", "ffn in", "ffn out"] {
            #expect(encoder.int8Layers.filter { $0.part == part }.flatMap(\.layers).sorted() == [0, 1])
        }
        let running = encoder.int8Layers.filter { $0.int8FromRows != .max }.reduce(0) { $0 + $1.layers.count }
        #expect(encoder.quantizedLayerCount == running)
        let fp32 = try EncoderWeights(config: loaded.config, file: loaded.weightsFile, precision: .fp32, int8Layers: .measured)
        #expect(fp32.int8Policy == nil && fp32.int8Layers.isEmpty)
    }
}
