import ArgumentParser
import Foundation
import Models
import Training
import Tensors

extension ComputePrecision: ExpressibleByArgument {}

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a model directory set to run its encoder's linear layers in int8 or bf16.",
        discussion: """
            int8: each linear layer of the encoder is stored as int8 with one scale per output channel and runs as a u8 × s8 GEMM, \
            its input quantized per token as it runs (dynamic quantization). The word embeddings are stored as int8 with one \
            scale per row (a lookup: a row is widened when a token reads it). Heads, biases and LayerNorm stay as they are. \
            On CPUs without VNNI, oneDNN's int8 GEMM adds pairs of products in 16 bits, so when the model loads each weight \
            row gets the finest grid from ±63 to ±127 that cannot overflow. \
            bf16: the encoder's linear layers are stored as bf16 and run as bf16 GEMMs on CPUs with AVX512-BF16; \
            elsewhere the model runs in fp32 and says so once. \
            Check the accuracy with `biotag eval` on both directories.
            """)

    @Option(help: "Model directory to read (fp32, or any storage `biotag convert` writes).")
    var model: String

    @Option(help: ArgumentHelp("How the encoder's linear layers compute: int8 or bf16.", valueName: "int8|bf16"))
    var mode: ComputePrecision

    @Option(help: "Directory to write (created; its model files are replaced).")
    var out: String

    @Option(help: ArgumentHelp(
        "Keep the weights whose name contains PART as they are (repeatable), e.g. layer.5.output.dense for a layer too sensitive to quantize, or word_embeddings.",
        valueName: "PART"))
    var keep: [String] = []

    @Option(help: ArgumentHelp(
        "Sentences to calibrate int8 on: an IOB file (token<TAB>label lines) or plain text, one sentence per line (repeatable: the sentences are shared out evenly over the files).",
        discussion: "Each linear layer's input channels are measured on them, and a factor per channel moves activation outliers into the weights (SmoothQuant): the int8 model then stays much closer to fp32. Without it, activations are quantized as they are.",
        valueName: "file"))
    var calibration: [String] = []

    @Option(help: "Calibrate on at most this many sentences.")
    var calibrationLimit: Int = 512

    @Option(help: "Smoothing strength α: factor = max|x|^α / max|w|^(1-α) per input channel (0 leaves the activations alone).")
    var smoothing: Float = 0.5

    func validate() throws {
        if mode == .fp32 { throw ValidationError("--mode fp32: use `biotag convert --weights f32` for an fp32 copy") }
        if !calibration.isEmpty && mode != .int8 { throw ValidationError("--calibration applies to --mode int8 only") }
        guard calibrationLimit >= 1 else { throw ValidationError("--calibration-limit must be at least 1") }
        guard (0...1).contains(smoothing) else { throw ValidationError("--smoothing must be between 0 and 1, got \(smoothing)") }
    }

    /// Whether a tensor is the weight of one of the encoder's linear layers (not LayerNorm,
    /// not an embedding table, not a head).
    static func isEncoderLinear(_ name: String) -> Bool {
        (name.contains("encoder.layer.") || name.contains("transformer.layer.")) && name.hasSuffix(".weight")
            && !name.contains("LayerNorm") && !name.contains("layer_norm")
    }

    func run() throws {
        var factors: [String: [Float]] = [:]
        if !calibration.isEmpty {
            factors = try Self.smoothingFactors(model: model, files: calibration, limit: calibrationLimit, alpha: smoothing)
        }
        try Self.write(model: model, mode: mode, out: out, keep: keep, smoothing: factors)
    }

    /// Runs the fp32 model over the calibration sentences and returns, per linear layer (by its
    /// tensor prefix), SmoothQuant's factor per input channel: max|x|^α / max|w|^(1−α), where
    /// max|w| is over the column of the layer (of Q, K and V together: they share their input).
    static func smoothingFactors(model directory: String, files: [String], limit: Int, alpha: Float) throws -> [String: [Float]] {
        let model: MultiTaskModel
        do { model = try MultiTaskModel(directory: directory, precision: .fp32) } catch { throw CommandError(error.description) }
        if model.weightsFile.names.contains(where: { $0.hasSuffix(EncoderWeights.smoothSuffix) }) {
            throw CommandError("\(directory) is already smoothed by an earlier calibration: quantize its fp32 source instead")
        }
        var sentences: [String] = []
        let share = max(1, limit / files.count)
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot read the calibration sentences") }
            guard let text = String(validating: data, as: UTF8.self) else { throw CommandError("\(path): invalid UTF-8") }
            let isIOB = text.split(separator: "\n", maxSplits: 50).contains { $0.contains("\t") }
            let found = isIOB ? try IOBReader.sentenceTexts(path: path) : text.split(separator: "\n").map(String.init)
            let usable = found.filter { !$0.allSatisfy(\.isWhitespace) }
            guard !usable.isEmpty else { throw CommandError("\(path): no calibration sentences") }
            sentences += usable.prefix(share)
        }
        let runner: EncoderRunner
        do { runner = try EncoderRunner(weights: model.encoder, threads: 2) } catch { throw CommandError("\(error)") }
        defer { runner.shutdown() }
        let ranges = ActivationRanges(config: model.config)
        runner.ranges = ranges
        let ids = sentences.map { model.tokenizer.truncate(model.tokenizer.encode($0), maxLength: min(128, model.config.maxPositions)).ids }
        for start in stride(from: 0, to: ids.count, by: 16) {
            _ = try runner.forward(PackedBatch(Array(ids[start..<min(start + 16, ids.count)])))
        }
        printError("calibrated on \(sentences.count) sentences (\(ranges.tokens) tokens) from \(files.joined(separator: ", "))")

        let names = EncoderWeights.Names(file: model.weightsFile, architecture: model.config.architecture)
        let parts = names.layerParts
        var factors: [String: [Float]] = [:]
        for (index, layer) in model.encoder.layers.enumerated() {
            let layers: [(ActivationRanges.Part, DenseWeight, [String])] = [
                (.queryKeyValue, layer.queryKeyValue, [parts.0, parts.1, parts.2]),
                (.attentionOutput, layer.attentionOutput, [parts.3]),
                (.intermediate, layer.intermediate, [parts.5]),
                (.output, layer.output, [parts.6]),
            ]
            for (part, dense, prefixes) in layers {
                guard case let .fp32(linear) = dense else { continue }
                let inputs = ranges.maxima[index][part.rawValue]
                var columns = [Float](repeating: 0, count: linear.inFeatures)
                for row in 0..<linear.outFeatures {
                    for i in 0..<linear.inFeatures { columns[i] = max(columns[i], abs(linear.weight[row * linear.inFeatures + i])) }
                }
                let layerFactors = zip(inputs, columns).map { x, w -> Float in
                    guard x > 0, w > 0 else { return 1 }
                    return min(max(pow(x, alpha) / pow(w, 1 - alpha), 1e-4), 1e4)
                }
                for prefix in prefixes { factors[names.layer(index, prefix)] = layerFactors }
            }
        }
        return factors
    }

    /// - Parameter smoothing: per layer prefix, the factors its weight columns are multiplied by
    ///   (stored beside it as `<prefix>.smooth`).
    static func write(model: String, mode: ComputePrecision, out: String, keep: [String] = [], smoothing: [String: [Float]] = [:]) throws {
        func kept(_ name: String) -> Bool { keep.contains { name.contains($0) } }
        func linear(_ name: String) -> Bool { isEncoderLinear(name) && !kept(name) }
        func embedding(_ name: String) -> Bool { mode == .int8 && name.hasSuffix("word_embeddings.weight") && !kept(name) }
        var (tensors, metadata, source) = try ModelRewrite.tensors(of: model) { linear($0) || embedding($0) }
        let layerStorage: WeightStorage = mode == .int8 ? .int8 : .bf16
        var quantized = 0
        tensors = tensors.flatMap { tensor -> [TensorRecord] in
            guard tensor.dtype == .f32, tensor.shape.count == 2 else { return [tensor] }
            if linear(tensor.name) {
                quantized += 1
                let prefix = String(tensor.name.dropLast(".weight".count))
                guard let factors = smoothing[prefix], factors.count == tensor.shape[1] else { return layerStorage.encode(tensor) }
                var values = tensor.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                for row in 0..<tensor.shape[0] {
                    for i in 0..<factors.count { values[row * factors.count + i] *= factors[i] }
                }
                return layerStorage.encode(TensorRecord(name: tensor.name, shape: tensor.shape, floats: values))
                    + [TensorRecord(name: prefix + EncoderWeights.smoothSuffix, shape: [factors.count], floats: factors)]
            }
            return embedding(tensor.name) ? WeightStorage.int8.encode(tensor) : [tensor]
        }
        guard quantized > 0 else {
            throw CommandError("\(source): no encoder linear layer to quantize (none named …encoder.layer.N… or …transformer.layer.N…, or every one kept)")
        }
        metadata[ComputePrecision.metadataKey] = mode.rawValue
        metadata["biotag.weights"] = "\(mode.rawValue) encoder linear layers" + (keep.isEmpty ? "" : ", kept: \(keep.joined(separator: ","))")
            + (smoothing.isEmpty ? "" : ", smoothed (calibrated)")
        try ModelRewrite.write(tensors, metadata: metadata, from: model, to: out, source: source,
                               summary: "\(quantized) linear weights in \(mode.rawValue)\(mode == .int8 ? ", word embeddings int8" : "")")
    }
}

/// The model directories `biotag bench` compares: the model itself for fp32, and its
/// `biotag quantize` output for int8 and bf16 (written to a temporary directory unless the model
/// already is one).
enum ModelVariants {
    static func directory(of model: String, for precision: ComputePrecision) throws -> String {
        guard precision != .fp32 else { return model }
        let weights = (model as NSString).appendingPathComponent("model.safetensors")
        if let file = try? SafetensorsFile(path: weights), ComputePrecision(metadata: file.header.metadata) == precision { return model }
        let out = NSTemporaryDirectory() + "biotag-bench-\(ProcessInfo.processInfo.processIdentifier)-\((model as NSString).lastPathComponent)-\(precision.rawValue)"
        try Quantize.write(model: model, mode: precision, out: out)
        return out
    }

    static func weightsMiB(_ directory: String) -> Double? {
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).map { Double($0) / 1_048_576 }
    }
}
