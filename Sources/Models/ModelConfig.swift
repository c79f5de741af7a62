import Foundation

/// The two encoder families biotag runs.
public enum Architecture: String, Sendable, Codable {
    case bert
    case distilbert
}

/// The nonlinearity of the feed-forward block.
public enum Activation: String, Sendable, Codable {
    /// `gelu`: exact, with erf.
    case gelu
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    case geluTanh = "gelu_tanh"
    case relu
}

/// Why a model directory could not be loaded: what was expected, what was found, which file.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case invalidConfig(file: String, reason: String)
    case unsupported(file: String, reason: String)
    case weights(SafetensorsError)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case invalidTasks(file: String, reason: String)
    case tokenizer(String)
    case nonFinite(file: String, tensor: String, index: Int)
    /// An environment variable that configures loading holds a value it cannot take.
    case setting(name: String, value: String, reason: String)
    /// The inference engine failed while the model loaded.
    case engine(String)

    public var description: String {
        switch self {
        case let .missingFile(path): "missing model file: \(path)"
        case let .invalidConfig(file, reason): "\(file): invalid config: \(reason)"
        case let .unsupported(file, reason): "\(file): unsupported model: \(reason)"
        case let .weights(error): error.description
        case let .shapeMismatch(file, tensor, expected, found): "\(file): tensor '\(tensor)' has shape \(found), the config implies \(expected)"
        case let .invalidTasks(file, reason): "\(file): invalid tasks.json: \(reason)"
        case let .tokenizer(reason): "tokenizer: \(reason)"
        case let .nonFinite(file, tensor, index): "\(file): tensor '\(tensor)' holds a NaN or an infinity (element \(index)): the weights are damaged"
        case let .setting(name, value, reason): "\(name)=\(value): \(reason)"
        case let .engine(reason): "inference engine: \(reason)"
        }
    }
}

/// An encoder's hyper-parameters, from a Hugging Face `config.json` of either family.
public struct EncoderConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    /// 0 for DistilBERT, which has no token types.
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    public var activation: Activation
    /// Label names of a classification checkpoint (`id2label`), if any.
    public var labels: [String]?
    /// The `transformers` class the checkpoint was saved from (`architectures[0]`), if given.
    public var checkpointClass: String?
    /// Per layer, the attention heads removed by structured pruning (original numbering, as
    /// `transformers`' `pruned_heads`); nil or empty lists: every layer has `heads` heads. The
    /// remaining heads keep their order and `headSize`.
    public var prunedHeads: [[Int]]?
    /// Per layer, the FFN width after pruning (`intermediate_sizes`, a biotag key); nil: every
    /// layer has `intermediateSize`.
    public var intermediateSizes: [Int]?

    public init(architecture: Architecture, vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int, maxPositions: Int = 512, typeVocabularySize: Int = 2, layerNormEpsilon: Float = 1e-12, activation: Activation = .gelu, labels: [String]? = nil) {
        self.architecture = architecture; self.vocabularySize = vocabularySize; self.hiddenSize = hiddenSize
        self.layers = layers; self.heads = heads; self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions; self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon; self.activation = activation; self.labels = labels
    }

    public var headSize: Int { hiddenSize / heads }

    /// The attention heads layer `layer` runs.
    public func heads(layer: Int) -> Int { heads - (prunedHeads?[layer].count ?? 0) }

    /// The width of layer `layer`'s attention: its Q, K and V each, and its context.
    public func attentionWidth(layer: Int) -> Int { heads(layer: layer) * headSize }

    /// The FFN width of layer `layer`.
    public func intermediateSize(layer: Int) -> Int { intermediateSizes?[layer] ?? intermediateSize }

    /// Whether any layer was pruned (heads or FFN neurons).
    public var isPruned: Bool { (prunedHeads?.contains { !$0.isEmpty } ?? false) || intermediateSizes != nil }

    /// The widest attention and FFN of any layer (scratch sizes).
    public var largestAttentionWidth: Int { (0..<layers).map(attentionWidth(layer:)).max() ?? hiddenSize }
    public var largestIntermediateSize: Int { (0..<layers).map(intermediateSize(layer:)).max() ?? intermediateSize }

    /// This config with only the layers `kept`, in that order (their pruning kept with them).
    public func keepingLayers(_ kept: [Int]) -> EncoderConfig {
        var smaller = self
        smaller.layers = kept.count
        smaller.prunedHeads = prunedHeads.map { pruned in kept.map { pruned[$0] } }
        smaller.intermediateSizes = intermediateSizes.map { sizes in kept.map { sizes[$0] } }
        return smaller
    }

    /// Parses `config.json`, refusing anything biotag would run wrongly.
    public static func load(path: String) throws(ModelLoadError) -> EncoderConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        let raw: RawConfig
        do { raw = try JSONDecoder().decode(RawConfig.self, from: data) } catch {
            throw .invalidConfig(file: path, reason: "not a valid config.json (\(error))")
        }
        return try raw.validated(file: path)
    }

    /// The `config.json` of this encoder, readable by Hugging Face `transformers`.
    public func jsonObject() -> [String: Any] {
        var object: [String: Any]
        let act: String = switch activation { case .gelu: "gelu"; case .geluTanh: "gelu_new"; case .relu: "relu" }
        switch architecture {
        case .bert:
            object = [
                "model_type": "bert", "architectures": ["BertModel"], "vocab_size": vocabularySize,
                "hidden_size": hiddenSize, "num_hidden_layers": layers, "num_attention_heads": heads,
                "intermediate_size": intermediateSize, "max_position_embeddings": maxPositions,
                "type_vocab_size": typeVocabularySize, "layer_norm_eps": Double(layerNormEpsilon),
                "hidden_act": act, "position_embedding_type": "absolute", "pad_token_id": 0,
                "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
            ]
        case .distilbert:
            object = [
                "model_type": "distilbert", "architectures": ["DistilBertModel"], "vocab_size": vocabularySize,
                "dim": hiddenSize, "n_layers": layers, "n_heads": heads, "hidden_dim": intermediateSize,
                "max_position_embeddings": maxPositions, "activation": act, "pad_token_id": 0,
                "dropout": 0.1, "attention_dropout": 0.1, "initializer_range": 0.02, "sinusoidal_pos_embds": false,
            ]
        }
        if let prunedHeads, prunedHeads.contains(where: { !$0.isEmpty }) {
            object["pruned_heads"] = Dictionary(uniqueKeysWithValues: prunedHeads.enumerated().filter { !$0.element.isEmpty }.map { ("\($0.offset)", $0.element) })
        }
        if let intermediateSizes { object["intermediate_sizes"] = intermediateSizes }
        if let labels {
            object["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
            object["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        }
        return object
    }
}

/// `config.json` as written by `transformers`, both families' keys.
private struct RawConfig: Decodable {
    let modelType: String?
    // BERT
    let vocabSize: Int?
    let hiddenSize: Int?, numHiddenLayers: Int?, numAttentionHeads: Int?, intermediateSize: Int?
    let maxPositionEmbeddings: Int?, typeVocabSize: Int?, layerNormEps: Double?
    let hiddenAct: String?, positionEmbeddingType: String?
    // DistilBERT
    let dim: Int?, nLayers: Int?, nHeads: Int?, hiddenDim: Int?, activation: String?
    let id2label: [String: String]?
    let architectures: [String]?
    // Structured pruning: `transformers`' key for heads, biotag's for FFN widths.
    let prunedHeads: [String: [Int]]?
    let intermediateSizes: [Int]?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
        case positionEmbeddingType = "position_embedding_type"
        case dim, nLayers = "n_layers", nHeads = "n_heads", hiddenDim = "hidden_dim", activation, id2label, architectures
        case prunedHeads = "pruned_heads", intermediateSizes = "intermediate_sizes"
    }

    func validated(file: String) throws(ModelLoadError) -> EncoderConfig {
        guard let type = modelType else { throw .invalidConfig(file: file, reason: "no model_type") }
        func required(_ value: Int?, _ key: String) throws(ModelLoadError) -> Int {
            guard let value else { throw .invalidConfig(file: file, reason: "missing \(key)") }
            guard value > 0 else { throw .invalidConfig(file: file, reason: "\(key) must be positive, found \(value)") }
            return value
        }
        func parseActivation(_ name: String) throws(ModelLoadError) -> Activation {
            switch name {
            case "gelu": return .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
            case "relu": return .relu
            default: throw .unsupported(file: file, reason: "activation '\(name)' (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)")
            }
        }
        var config: EncoderConfig
        switch type {
        case "bert":
            if let position = positionEmbeddingType, position != "absolute" {
                throw .unsupported(file: file, reason: "position_embedding_type '\(position)' (only 'absolute')")
            }
            config = EncoderConfig(
                architecture: .bert, vocabularySize: try required(vocabSize, "vocab_size"),
                hiddenSize: try required(hiddenSize, "hidden_size"), layers: try required(numHiddenLayers, "num_hidden_layers"),
                heads: try required(numAttentionHeads, "num_attention_heads"),
                intermediateSize: try required(intermediateSize, "intermediate_size"),
                maxPositions: try required(maxPositionEmbeddings ?? 512, "max_position_embeddings"),
                typeVocabularySize: try required(typeVocabSize ?? 2, "type_vocab_size"),
                layerNormEpsilon: Float(layerNormEps ?? 1e-12), activation: try parseActivation(hiddenAct ?? "gelu"))
        case "distilbert":
            config = EncoderConfig(
                architecture: .distilbert, vocabularySize: try required(vocabSize, "vocab_size"),
                hiddenSize: try required(dim, "dim"), layers: try required(nLayers, "n_layers"),
                heads: try required(nHeads, "n_heads"), intermediateSize: try required(hiddenDim, "hidden_dim"),
                maxPositions: try required(maxPositionEmbeddings ?? 512, "max_position_embeddings"),
                typeVocabularySize: 0, layerNormEpsilon: 1e-12, activation: try parseActivation(self.activation ?? "gelu"))
        default:
            throw .unsupported(file: file, reason: "model_type '\(type)' (supported: bert, distilbert)")
        }
        guard config.hiddenSize % config.heads == 0 else {
            throw .invalidConfig(file: file, reason: "hidden size \(config.hiddenSize) is not a multiple of \(config.heads) heads")
        }
        guard config.layerNormEpsilon > 0, config.layerNormEpsilon.isFinite else {
            throw .invalidConfig(file: file, reason: "layer_norm_eps must be positive")
        }
        config.checkpointClass = architectures?.first
        if let prunedHeads, !prunedHeads.isEmpty {
            var layers = [[Int]](repeating: [], count: config.layers)
            for (key, heads) in prunedHeads {
                guard let layer = Int(key), layers.indices.contains(layer) else {
                    throw .invalidConfig(file: file, reason: "pruned_heads names layer '\(key)'; the model has layers 0 to \(config.layers - 1)")
                }
                guard Set(heads).count == heads.count, heads.allSatisfy({ (0..<config.heads).contains($0) }), heads.count < config.heads else {
                    throw .invalidConfig(file: file, reason: "pruned_heads of layer \(layer) must be distinct heads from 0 to \(config.heads - 1), leaving at least one; found \(heads)")
                }
                layers[layer] = heads.sorted()
            }
            config.prunedHeads = layers
        }
        if let intermediateSizes {
            guard intermediateSizes.count == config.layers, intermediateSizes.allSatisfy({ $0 > 0 }) else {
                throw .invalidConfig(file: file, reason: "intermediate_sizes must give a positive FFN width for each of the \(config.layers) layers; found \(intermediateSizes)")
            }
            config.intermediateSizes = intermediateSizes
        }
        if let id2label {
            var labels: [String] = []
            for index in 0..<id2label.count {
                guard let label = id2label["\(index)"] else { throw .invalidConfig(file: file, reason: "id2label has no entry \(index)") }
                labels.append(label)
            }
            config.labels = labels
        }
        return config
    }
}
