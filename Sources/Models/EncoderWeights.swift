import Tensors

/// LayerNorm parameters (`weight` = gamma, `bias` = beta), each `[hidden]`.
public struct LayerNormWeights: Sendable {
    public let gamma: FloatTensor
    public let beta: FloatTensor
}

/// One transformer block, with Q, K and V fused into one `[3·hidden, hidden]` projection.
public struct TransformerLayerWeights: Sendable {
    public let queryKeyValue: DenseWeight
    public let attentionOutput: DenseWeight
    public let attentionNorm: LayerNormWeights
    public let intermediate: DenseWeight
    public let output: DenseWeight
    public let outputNorm: LayerNormWeights
}

/// All encoder parameters, read from a Hugging Face checkpoint by their original names.
public struct EncoderWeights: Sendable {
    public let config: EncoderConfig
    public let wordEmbeddings: EmbeddingTable
    public let positionEmbeddings: FloatTensor
    /// nil for DistilBERT.
    public let tokenTypeEmbeddings: FloatTensor?
    public let embeddingNorm: LayerNormWeights
    public let layers: [TransformerLayerWeights]
    /// How the linear layers run: `.int8` when the file asked for it (`biotag quantize`);
    /// layers the quantization kept in fp32 stay fp32 (`quantizedLayerCount`).
    public let precision: ComputePrecision
    /// How many of the encoder's linear layers run as int8 GEMMs (at some row count).
    public let quantizedLayerCount: Int
    /// With `.int8`: how the quantized layers were assigned int8 or fp32 per row count
    /// (`BIOTAG_INT8_LAYERS`, else the CPU's default), and what each layer shape runs.
    public let int8Policy: Int8LayerPolicy?
    public let int8Layers: [Int8LayerChoice]

    /// The names of one architecture's parameters (candle's `pp(...)` prefix idea: one place
    /// spells them, with the checkpoint's prefix chosen once from what the file holds).
    public struct Names: Sendable {
        public let prefix: String
        public let architecture: Architecture

        /// The names a `transformers` `…ForTokenClassification` checkpoint uses (`bert.` or
        /// `distilbert.` before every encoder tensor).
        public init(architecture: Architecture) {
            self.architecture = architecture
            prefix = architecture == .bert ? "bert." : "distilbert."
        }

        public init(file: SafetensorsFile, architecture: Architecture) {
            self.architecture = architecture
            let outer = architecture == .bert ? "bert." : "distilbert."
            prefix = file.header.tensors["\(outer)embeddings.word_embeddings.weight"] != nil ? outer : ""
        }

        public func embeddings(_ name: String) -> String { "\(prefix)embeddings.\(name)" }

        public func layer(_ index: Int, _ name: String) -> String {
            switch architecture {
            case .bert: "\(prefix)encoder.layer.\(index).\(name)"
            case .distilbert: "\(prefix)transformer.layer.\(index).\(name)"
            }
        }

        /// (query, key, value, attention output, attention norm, intermediate, output, output norm)
        public var layerParts: (String, String, String, String, String, String, String, String) {
            switch architecture {
            case .bert: ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                         "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
            case .distilbert: ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                               "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm")
            }
        }
    }

    /// - Parameter precision: how to run the linear layers; nil takes the file's
    ///   `biotag.precision` metadata (fp32 when absent). `.int8` runs the layers a quantized
    ///   file stores as int8 as u8 × s8 GEMMs (any model not quantized by `biotag quantize`:
    ///   every layer, quantized as it loads); `.fp32` widens everything.
    /// - Parameter int8Layers: which quantized layers run int8 at which row counts; nil reads
    ///   `BIOTAG_INT8_LAYERS` (`Int8LayerPolicy.fromEnvironment`).
    public init(config: EncoderConfig, file: SafetensorsFile, precision requested: ComputePrecision? = nil,
                int8Layers requestedPolicy: Int8LayerPolicy? = nil) throws(ModelLoadError) {
        self.config = config
        let stored = ComputePrecision(metadata: file.header.metadata)
        let precision = ComputePrecision.effective(requested: requested ?? stored)
        self.precision = precision
        var policy: Int8LayerPolicy?
        if precision == .int8 {
            if let requestedPolicy { policy = requestedPolicy } else { policy = try Int8LayerPolicy.fromEnvironment() }
        }
        var timer: Int8LayerTimer?
        var choices: [Int8LayerChoice] = []
        // A model `biotag quantize` wrote says which layers it kept in fp32 by their storage;
        // int8 asked of any other model quantizes every layer as it loads.
        let quantizeAll = stored != .int8
        let names = Names(file: file, architecture: config.architecture)
        let hidden = config.hiddenSize
        func tensor(_ name: String, _ shape: [Int]) throws(ModelLoadError) -> FloatTensor {
            try file.parameter(name, shape: shape)
        }
        var quantized = 0
        /// A layer (or fused layers reading the same input) runs int8 when every part is stored
        /// as int8.
        func dense(_ names: [String], out: Int, in inFeatures: Int, layer: Int, part: String, epilogue: Epilogue = .none) throws(ModelLoadError) -> DenseWeight {
            var parts: [LinearWeight] = []
            for name in names { parts.append(try file.linear(name, out: out, in: inFeatures)) }
            let linear = parts.count == 1 ? parts[0] : Self.fuse(parts)
            // Layers `biotag quantize --calibration` smoothed store W · s with s beside them
            // (`<prefix>.smooth`, one factor per input channel, the same for fused parts).
            var smoothing: [Float]?
            if file.header.tensors[names[0] + Self.smoothSuffix] != nil {
                smoothing = try file.parameter(names[0] + Self.smoothSuffix, shape: [inFeatures]).array
            }
            if precision == .bf16 {
                return .bf16(BF16LinearWeight(rounding: smoothing.map { Self.unsmooth(linear, $0) } ?? linear))
            }
            guard precision == .int8, quantizeAll || names.allSatisfy({ file.header.tensors[$0 + ".weight"]?.dtype == .i8 }) else {
                return .fp32(smoothing.map { Self.unsmooth(linear, $0) } ?? linear)
            }
            let int8 = QuantizedLinearWeight(quantizing: linear, smoothing: smoothing, weightsAreSmoothed: true)
            var from = 0, timings: [Int8LayerChoice.Timing] = []
            switch policy {
            case .fp32Below(let rows): from = rows
            case .measured:
                do throws(DNNLError) {
                    if timer == nil { timer = try Int8LayerTimer() }
                    // Timed as stored: a smoothed layer's fp32 GEMM costs the same before it is unsmoothed.
                    (from, timings) = try timer!.choose(fp32: linear, int8: int8, epilogue: epilogue)
                } catch { throw .engine("timing layer \(layer)'s \(part) in int8 and fp32: \(error)") }
            case .int8, nil: break
            }
            if let index = choices.firstIndex(where: { $0.part == part && $0.outFeatures == linear.outFeatures && $0.inFeatures == inFeatures && $0.int8FromRows == from }) {
                choices[index].layers.append(layer)
            } else {
                choices.append(Int8LayerChoice(part: part, outFeatures: linear.outFeatures, inFeatures: inFeatures, layers: [layer], int8FromRows: from, timings: timings))
            }
            if from != .max { quantized += 1 }
            return DenseWeight(int8FromRows: from, int8: { int8 }, fp32: { smoothing.map { Self.unsmooth(linear, $0) } ?? linear })
        }
        func norm(_ name: String) throws(ModelLoadError) -> LayerNormWeights {
            LayerNormWeights(gamma: try tensor(name + ".weight", [hidden]), beta: try tensor(name + ".bias", [hidden]))
        }
        wordEmbeddings = try EmbeddingTable(file: file, name: names.embeddings("word_embeddings.weight"), rows: config.vocabularySize, width: hidden)
        positionEmbeddings = try tensor(names.embeddings("position_embeddings.weight"), [config.maxPositions, hidden])
        tokenTypeEmbeddings = config.architecture == .bert
            ? try tensor(names.embeddings("token_type_embeddings.weight"), [config.typeVocabularySize, hidden]) : nil
        embeddingNorm = try norm(names.embeddings("LayerNorm"))
        var layers: [TransformerLayerWeights] = []
        let parts = names.layerParts
        for index in 0..<config.layers {
            // A pruned layer has fewer heads (narrower Q, K, V and context) and FFN neurons.
            let attention = config.attentionWidth(layer: index), inner = config.intermediateSize(layer: index)
            layers.append(TransformerLayerWeights(
                queryKeyValue: try dense([parts.0, parts.1, parts.2].map { names.layer(index, $0) }, out: attention, in: hidden, layer: index, part: "qkv"),
                attentionOutput: try dense([names.layer(index, parts.3)], out: hidden, in: attention, layer: index, part: "attention output"),
                attentionNorm: try norm(names.layer(index, parts.4)),
                intermediate: try dense([names.layer(index, parts.5)], out: inner, in: hidden, layer: index, part: "ffn in", epilogue: config.activation.epilogue),
                output: try dense([names.layer(index, parts.6)], out: hidden, in: inner, layer: index, part: "ffn out"),
                outputNorm: try norm(names.layer(index, parts.7))))
        }
        self.layers = layers
        quantizedLayerCount = quantized
        int8Policy = policy
        int8Layers = choices
        let slower = choices.filter { $0.int8FromRows != 0 }
        if policy == .measured, !slower.isEmpty {
            ComputePrecision.noteOnce("int8: on this CPU (\(CPUFeatures.instructionSet)) the fp32 GEMM measured faster for " +
                slower.map { "\($0.part) \($0.outFeatures)×\($0.inFeatures) (\($0.summary))" }.joined(separator: ", ") +
                "; those run so (\(Int8LayerPolicy.environmentKey)=int8 keeps int8 everywhere; `biotag info` shows the timings)")
        }
    }

    /// When the encoder runs int8, the row count from which the token heads' first layers run
    /// int8 (0: always); nil when it runs fp32 or bf16. They take the choice of the first FFN
    /// layer, which reads the same hidden states into a wide layer with the same activation.
    public var headInt8FromRows: Int? {
        guard precision == .int8 else { return nil }
        return int8Layers.first { $0.part == "ffn in" && $0.layers.contains(0) }?.int8FromRows ?? 0
    }

    /// One line on what the quantized layers run, e.g. "measured: qkv int8, ffn out fp32 below
    /// 64 rows, int8 from there"; nil unless the model runs int8.
    public var int8Summary: String? {
        guard let int8Policy else { return nil }
        return "\(int8Policy): " + int8Layers.map { "\($0.part)\($0.layers.count == config.layers ? "" : " (layers \($0.layers.map(String.init).joined(separator: ",")))") \($0.summary)" }.joined(separator: ", ")
    }

    /// The tensor beside a smoothed layer's weight that holds its smoothing factors.
    public static let smoothSuffix = ".smooth"

    /// W from a stored W · s (columns divided back by the smoothing factors), for fp32 runs.
    static func unsmooth(_ linear: LinearWeight, _ factors: [Float]) -> LinearWeight {
        let width = linear.inFeatures
        let weight = FloatBuffer(count: linear.outFeatures * width)
        for row in 0..<linear.outFeatures {
            for i in 0..<width { weight.pointer[row * width + i] = linear.weight[row * width + i] / factors[i] }
        }
        return LinearWeight(weight: weight.pointer, bias: linear.bias, outFeatures: linear.outFeatures, inFeatures: width, owner: [weight, linear.owner as AnyObject] as AnyObject)
    }

    /// Stacks projections that read the same input into one layer (rows concatenated), so one
    /// GEMM computes all of them.
    static func fuse(_ parts: [LinearWeight]) -> LinearWeight {
        let inFeatures = parts[0].inFeatures
        let outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
        let weight = FloatBuffer(count: outFeatures * inFeatures)
        let bias = FloatBuffer(count: outFeatures)
        var row = 0
        for part in parts {
            (weight.pointer + row * inFeatures).update(from: part.weight, count: part.outFeatures * inFeatures)
            if let partBias = part.bias { (bias.pointer + row).update(from: partBias, count: part.outFeatures) }
            else { (bias.pointer + row).update(repeating: 0, count: part.outFeatures) }
            row += part.outFeatures
        }
        return LinearWeight(weight: weight.pointer, bias: bias.pointer, outFeatures: outFeatures, inFeatures: inFeatures, owner: [weight, bias] as AnyObject)
    }
}

extension SafetensorsFile {
    /// A model parameter of the shape the config implies, as fp32.
    func parameter(_ name: String, shape: [Int]) throws(ModelLoadError) -> FloatTensor {
        do { return try floats(name, shape: shape) } catch { throw Self.loadError(error) }
    }

    /// A file's error as the model loader reports it: a wrong shape as `shapeMismatch`.
    static func loadError(_ error: SafetensorsError) -> ModelLoadError {
        if case let .wrongShape(file, tensor, expected, found) = error { return .shapeMismatch(file: file, tensor: tensor, expected: expected, found: found) }
        return .weights(error)
    }

    /// The `<prefix>.weight` `[out, in]` and `<prefix>.bias` `[out]` of a dense layer.
    func linear(_ prefix: String, out: Int, in inFeatures: Int) throws(ModelLoadError) -> LinearWeight {
        let weight = try parameter(prefix + ".weight", shape: [out, inFeatures])
        let bias = try parameter(prefix + ".bias", shape: [out])
        return LinearWeight(weight: weight.pointer, bias: bias.pointer, outFeatures: out, inFeatures: inFeatures, owner: [weight.owner, bias.owner] as AnyObject)
    }
}

/// An embedding table as the encoder reads it: fp32, or int8 with one scale per row or per group
/// of consecutive values of a row (`[rows]` or `[rows, groups]`, fp32 or fp16) as `biotag convert`
/// and `biotag quantize` store it, read in place (a row is widened only when a token looks it up,
/// so the table stays a quarter of its fp32 size in memory).
public enum EmbeddingTable: @unchecked Sendable {
    case fp32(FloatTensor)
    /// `scales`: `groups` per row, each for `width / groups` consecutive values.
    case int8(values: UnsafePointer<Int8>, scales: FloatTensor, groups: Int, width: Int, owner: AnyObject)

    init(file: SafetensorsFile, name: String, rows: Int, width: Int) throws(ModelLoadError) {
        let scaleName = name + SafetensorsFile.scaleSuffix
        if let info = file.header.tensors[name], info.dtype == .i8, info.shape == [rows, width], file.header.tensors[scaleName] != nil {
            let layout: (shape: [Int], groups: Int)
            do { layout = try file.int8ScaleLayout(of: name) } catch { throw SafetensorsFile.loadError(error) }
            let (scales, groups) = (try file.parameter(scaleName, shape: layout.shape), layout.groups)
            do {
                let raw = try file.rawBytes(name)
                self = .int8(values: raw.baseAddress!.assumingMemoryBound(to: Int8.self), scales: scales, groups: groups, width: width, owner: file)
            } catch { throw .weights(error) }
        } else {
            self = .fp32(try file.parameter(name, shape: [rows, width]))
        }
    }

    /// Writes the row of `id` (as fp32) into `out`.
    @inline(__always)
    public func copy(row id: Int, into out: UnsafeMutablePointer<Float>, width: Int) {
        switch self {
        case .fp32(let table):
            out.update(from: table.pointer + id * width, count: width)
        case .int8(let values, let scales, let groups, _, _):
            let row = values + id * width
            let rowScales = scales.pointer + id * groups
            let size = width / groups
            for group in 0..<groups {
                let scale = rowScales[group]
                for i in (group * size)..<((group + 1) * size) { out[i] = Float(row[i]) * scale }
            }
        }
    }
}
