import Foundation
import Tensors

/// `biotag quantize`: a model directory set to run its encoder's linear layers in int8 or bf16,
/// with SmoothQuant's per-channel factors measured on calibration sentences.
public enum ModelQuantizer {
    /// Whether a tensor is the weight of one of the encoder's linear layers (not LayerNorm,
    /// not an embedding table, not a head).
    public static func isEncoderLinear(_ name: String) -> Bool {
        (name.contains("encoder.layer.") || name.contains("transformer.layer.")) && name.hasSuffix(".weight")
            && !name.contains("LayerNorm") && !name.contains("layer_norm")
    }

    /// Runs the fp32 model over the calibration sentences and returns, per linear layer (by its
    /// tensor prefix), SmoothQuant's factor per input channel: max|x|^α / max|w|^(1−α), where
    /// max|w| is over the column of the layer (of Q, K and V together: they share their input).
    /// - Returns: the factors, and the number of tokens they were measured on.
    public static func smoothingFactors(model directory: String, sentences: [String], alpha: Float) throws(ModelWriteError) -> (factors: [String: [Float]], tokens: Int) {
        let model: MultiTaskModel
        do { model = try MultiTaskModel(directory: directory, precision: .fp32) } catch { throw .input(path: directory, reason: error.description) }
        if model.weightsFile.names.contains(where: { $0.hasSuffix(EncoderWeights.smoothSuffix) }) {
            throw .input(path: directory, reason: "already smoothed by an earlier calibration: quantize its fp32 source instead")
        }
        guard !sentences.isEmpty else { throw .argument("no calibration sentences") }
        let runner: EncoderRunner
        do { runner = try EncoderRunner(weights: model.encoder, threads: 2) } catch { throw .input(path: directory, reason: "\(error)") }
        defer { runner.shutdown() }
        let ranges = ActivationRanges(config: model.config)
        runner.ranges = ranges
        let ids = sentences.map { model.tokenizer.truncate(model.tokenizer.encode($0), maxLength: min(128, model.config.maxPositions)).ids }
        for batch in Batcher(tokenBudget: .max, maxSequences: 16).batches(ids) {
            do { _ = try runner.forward(batch.packed) } catch { throw .input(path: directory, reason: "calibration pass failed: \(error)") }
        }

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
        return (factors, ranges.tokens)
    }

    /// - Parameter smoothing: per layer prefix, the factors its weight columns are multiplied by
    ///   (stored beside it as `<prefix>.smooth`).
    /// - Returns: the sizes of the weights file before and after, and what was done in words.
    public static func write(model: String, mode: ComputePrecision, out: String, keep: [String] = [], smoothing: [String: [Float]] = [:]) throws(ModelWriteError) -> (sizes: ModelRewrite.Sizes, summary: String) {
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
            throw .input(path: source, reason: "no encoder linear layer to quantize (none named …encoder.layer.N… or …transformer.layer.N…, or every one kept)")
        }
        metadata[ComputePrecision.metadataKey] = mode.rawValue
        metadata[ModelMetadataKey.weights] = "\(mode.rawValue) encoder linear layers" + (keep.isEmpty ? "" : ", kept: \(keep.joined(separator: ","))")
            + (smoothing.isEmpty ? "" : ", smoothed (calibrated)")
        let sizes = try ModelRewrite.write(tensors, metadata: metadata, from: model, to: out, source: source)
        return (sizes, "\(quantized) linear weights in \(mode.rawValue)\(mode == .int8 ? ", word embeddings int8" : "")")
    }
}
