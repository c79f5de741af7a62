import Tensors

/// LayerNorm parameters (`weight` = gamma, `bias` = beta), each `[hidden]`.
public struct LayerNormWeights: Sendable {
    public let gamma: FloatTensor
    public let beta: FloatTensor
}

/// One transformer block, with Q, K and V fused into one `[3·hidden, hidden]` projection.
public struct TransformerLayerWeights: Sendable {
    public let queryKeyValue: LinearWeight
    public let attentionOutput: LinearWeight
    public let attentionNorm: LayerNormWeights
    public let intermediate: LinearWeight
    public let output: LinearWeight
    public let outputNorm: LayerNormWeights
}

/// All encoder parameters, read from a Hugging Face checkpoint by their original names.
public struct EncoderWeights: Sendable {
    public let config: EncoderConfig
    public let wordEmbeddings: FloatTensor
    public let positionEmbeddings: FloatTensor
    /// nil for DistilBERT.
    public let tokenTypeEmbeddings: FloatTensor?
    public let embeddingNorm: LayerNormWeights
    public let layers: [TransformerLayerWeights]

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

    public init(config: EncoderConfig, file: SafetensorsFile) throws(ModelLoadError) {
        self.config = config
        let names = Names(file: file, architecture: config.architecture)
        let hidden = config.hiddenSize
        func tensor(_ name: String, _ shape: [Int]) throws(ModelLoadError) -> FloatTensor {
            try file.parameter(name, shape: shape)
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) throws(ModelLoadError) -> LinearWeight {
            try file.linear(name, out: out, in: inFeatures)
        }
        func norm(_ name: String) throws(ModelLoadError) -> LayerNormWeights {
            LayerNormWeights(gamma: try tensor(name + ".weight", [hidden]), beta: try tensor(name + ".bias", [hidden]))
        }
        wordEmbeddings = try tensor(names.embeddings("word_embeddings.weight"), [config.vocabularySize, hidden])
        positionEmbeddings = try tensor(names.embeddings("position_embeddings.weight"), [config.maxPositions, hidden])
        tokenTypeEmbeddings = config.architecture == .bert
            ? try tensor(names.embeddings("token_type_embeddings.weight"), [config.typeVocabularySize, hidden]) : nil
        embeddingNorm = try norm(names.embeddings("LayerNorm"))
        var layers: [TransformerLayerWeights] = []
        let parts = names.layerParts
        for index in 0..<config.layers {
            let query = try linear(names.layer(index, parts.0), out: hidden, in: hidden)
            let key = try linear(names.layer(index, parts.1), out: hidden, in: hidden)
            let value = try linear(names.layer(index, parts.2), out: hidden, in: hidden)
            layers.append(TransformerLayerWeights(
                queryKeyValue: Self.fuse([query, key, value]),
                attentionOutput: try linear(names.layer(index, parts.3), out: hidden, in: hidden),
                attentionNorm: try norm(names.layer(index, parts.4)),
                intermediate: try linear(names.layer(index, parts.5), out: config.intermediateSize, in: hidden),
                output: try linear(names.layer(index, parts.6), out: hidden, in: config.intermediateSize),
                outputNorm: try norm(names.layer(index, parts.7))))
        }
        self.layers = layers
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
        do {
            return try floats(name, shape: shape)
        } catch let .wrongShape(file, tensor, expected, found) {
            throw .shapeMismatch(file: file, tensor: tensor, expected: expected, found: found)
        } catch {
            throw .weights(error)
        }
    }

    /// The `<prefix>.weight` `[out, in]` and `<prefix>.bias` `[out]` of a dense layer.
    func linear(_ prefix: String, out: Int, in inFeatures: Int) throws(ModelLoadError) -> LinearWeight {
        let weight = try parameter(prefix + ".weight", shape: [out, inFeatures])
        let bias = try parameter(prefix + ".bias", shape: [out])
        return LinearWeight(weight: weight.pointer, bias: bias.pointer, outFeatures: out, inFeatures: inFeatures, owner: [weight.owner, bias.owner] as AnyObject)
    }
}
