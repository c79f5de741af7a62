import Foundation
import Models
import Tensors

/// One transformer block's trainable parameters (Q, K and V fused, as in inference).
public struct TrainableLayer: Sendable {
    public let queryKeyValue: LinearParameters
    public let attentionOutput: LinearParameters
    public let attentionNorm: NormParameters
    public let intermediate: LinearParameters
    public let output: LinearParameters
    public let outputNorm: NormParameters
}

/// A token-classification head being trained.
public struct TrainableHead: Sendable {
    public let spec: TaskSpec
    /// Present for the two-layer MLP head.
    public let dense: LinearParameters?
    public let classifier: LinearParameters
    public var name: String { spec.name }
    public var labels: [String] { spec.labels }
}

/// Why a model cannot be trained or saved.
public enum TrainingError: Error, CustomStringConvertible {
    case model(ModelLoadError)
    case unsupported(String)
    case io(path: String, reason: String)
    case data(String)
    case engine(DNNLError)

    public var description: String {
        switch self {
        case let .model(error): error.description
        case let .unsupported(reason): "cannot train: \(reason)"
        case let .io(path, reason): "\(path): \(reason)"
        case let .data(reason): reason
        case let .engine(error): error.description
        }
    }
}

/// A BERT or DistilBERT encoder with token-classification heads, all parameters in one
/// `ParameterStore`, saved in the model-directory format (`tasks.json` beside a Hugging Face
/// checkpoint) that inference loads.
public final class TrainableModel: @unchecked Sendable {
    public let config: EncoderConfig
    public let store = ParameterStore()
    public let wordEmbeddings: Parameter
    public let positionEmbeddings: Parameter
    /// nil for DistilBERT.
    public let tokenTypeEmbeddings: Parameter?
    public let embeddingNorm: NormParameters
    public let layers: [TrainableLayer]
    public let heads: [TrainableHead]

    /// Declares (and allocates, zeroed) the parameters of an encoder and token heads; encoder
    /// tensors get `transformers`' names (`bert.encoder.layer.0…`), heads those in their spec.
    public init(config: EncoderConfig, tasks: [TaskSpec]) throws(TrainingError) {
        self.config = config
        let names = EncoderWeights.Names(architecture: config.architecture)
        let hidden = config.hiddenSize
        wordEmbeddings = store.add([names.embeddings("word_embeddings.weight")], shape: [config.vocabularySize, hidden], decay: true)
        positionEmbeddings = store.add([names.embeddings("position_embeddings.weight")], shape: [config.maxPositions, hidden], decay: true)
        tokenTypeEmbeddings = config.architecture == .bert
            ? store.add([names.embeddings("token_type_embeddings.weight")], shape: [config.typeVocabularySize, hidden], decay: true) : nil
        embeddingNorm = store.norm(names.embeddings("LayerNorm"), width: hidden)
        let parts = names.layerParts
        var layers: [TrainableLayer] = []
        for index in 0..<config.layers {
            let qkv = [parts.0, parts.1, parts.2].map { names.layer(index, $0) }
            let attention = config.attentionWidth(layer: index), inner = config.intermediateSize(layer: index)
            layers.append(TrainableLayer(
                queryKeyValue: store.linear(qkv, out: 3 * attention, in: hidden),
                attentionOutput: store.linear([names.layer(index, parts.3)], out: hidden, in: attention),
                attentionNorm: store.norm(names.layer(index, parts.4), width: hidden),
                intermediate: store.linear([names.layer(index, parts.5)], out: inner, in: hidden),
                output: store.linear([names.layer(index, parts.6)], out: hidden, in: inner),
                outputNorm: store.norm(names.layer(index, parts.7), width: hidden)))
        }
        self.layers = layers
        var heads: [TrainableHead] = []
        for spec in tasks {
            guard spec.kind == .tokenClassification else {
                throw .unsupported("task '\(spec.name)' is \(spec.kind.rawValue); training supports token classification heads")
            }
            guard let classifier = spec.tensors["classifier"] else { throw .unsupported("task '\(spec.name)' names no classifier tensor") }
            var dense: LinearParameters?
            if spec.head == .mlp {
                guard let prefix = spec.tensors["dense"] else { throw .unsupported("MLP task '\(spec.name)' names no dense tensor") }
                dense = store.linear([prefix], out: spec.innerSize ?? hidden, in: hidden)
            }
            heads.append(TrainableHead(spec: spec, dense: dense, classifier: store.linear([classifier], out: spec.labels.count, in: dense?.outFeatures ?? hidden)))
        }
        self.heads = heads
        store.allocate()
    }

    /// The heads of a model directory that `load(directory:tasks: nil)` leaves out: those that
    /// are not token classification (none when the directory has no `tasks.json`).
    public static func heldBack(directory: String) throws(TrainingError) -> [TaskSpec] {
        let path = (directory as NSString).appendingPathComponent("tasks.json")
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do { return try TaskFile.load(path: path).tasks.filter { $0.kind != .tokenClassification } } catch { throw .model(error) }
    }

    /// The spec of a new two-layer MLP head, its tensors under `heads.<name>.`.
    public static func mlpTask(name: String, labels: [String]) -> TaskSpec {
        TaskSpec(name: name, kind: .tokenClassification, labels: labels, head: .mlp, activation: .gelu,
                 tensors: ["dense": "heads.\(name).dense", "classifier": "heads.\(name).classifier"])
    }

    /// Loads a model directory for training. Heads named in `tasks` that the directory already
    /// has with the same labels keep their weights; the others start from N(0, 0.02²)
    /// weights and zero biases (`transformers`' initialisation), drawn from `seed`.
    /// - Parameter tasks: the heads to train; nil trains the directory's own token-classification
    ///   heads (its relation and sequence heads are left out: they read the encoder's output and
    ///   are trained again on the result, `heldBack(directory:)` names them).
    public static func load(directory: String, tasks: [TaskSpec]?, seed: UInt64) throws(TrainingError) -> TrainableModel {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let config: EncoderConfig
        let file: SafetensorsFile
        let existing: [TaskSpec]
        do throws(ModelLoadError) {
            config = try EncoderConfig.load(path: path("config.json"))
            do { file = try SafetensorsFile(path: path("model.safetensors")) } catch { throw ModelLoadError.weights(error) }
            existing = FileManager.default.fileExists(atPath: path("tasks.json"))
                ? try TaskFile.load(path: path("tasks.json")).tasks : MultiTaskModel.implicitTasks(config)
        } catch { throw .model(error) }
        let wanted = tasks ?? existing.filter { $0.kind == .tokenClassification }
        let model = try TrainableModel(config: config, tasks: wanted.map { task in
            existing.first { $0.name == task.name && $0.labels == task.labels && $0.kind == task.kind } ?? task
        })
        // The checkpoint may store the encoder with or without the `bert.` prefix.
        let canonical = EncoderWeights.Names(architecture: config.architecture).prefix
        let stored = EncoderWeights.Names(file: file, architecture: config.architecture).prefix
        var random = SeededNormal(seed: seed)
        do throws(ModelLoadError) {
            for parameter in model.store.parameters {
                let fileNames = parameter.names.map { $0.hasPrefix(canonical) ? stored + $0.dropFirst(canonical.count) : $0 }
                if fileNames.allSatisfy({ file.header.tensors[$0] != nil }) {
                    try model.store.load(parameter, names: fileNames, from: file)
                } else if model.isHeadParameter(parameter), !fileNames.contains(where: { file.header.tensors[$0] != nil }) {
                    let values = model.store.value(parameter)
                    if parameter.decay { for i in 0..<parameter.count { values[i] = Float(random.next() * 0.02) } }
                } else {
                    throw ModelLoadError.missingFile("\(path("model.safetensors")) has no tensor '\(fileNames.first { file.header.tensors[$0] == nil }!)'")
                }
            }
        } catch { throw .model(error) }
        return model
    }

    /// A student for distillation: this model's embeddings, its encoder layers `kept` (in that
    /// order, e.g. every other one) and its heads named `heads` (in that order), copied.
    public func keepingLayers(_ kept: [Int], heads names: [String]) throws(TrainingError) -> TrainableModel {
        let outside = kept.filter { !layers.indices.contains($0) }
        guard !kept.isEmpty, Set(kept).count == kept.count, outside.isEmpty else {
            throw .data("layers to keep must be distinct numbers from 0 to \(layers.count - 1), got \(kept.map(String.init).joined(separator: ","))")
        }
        var chosen: [TrainableHead] = []
        for name in names {
            guard let head = heads.first(where: { $0.name == name }) else {
                throw .data("the model has no head '\(name)' (its heads: \(heads.map(\.name).joined(separator: ", ")))")
            }
            chosen.append(head)
        }
        let student = try TrainableModel(config: config.keepingLayers(kept), tasks: chosen.map(\.spec))
        let copier = ParameterCopier(from: store, to: student.store)
        copier.copy(wordEmbeddings, student.wordEmbeddings)
        copier.copy(positionEmbeddings, student.positionEmbeddings)
        copier.copy(tokenTypeEmbeddings, student.tokenTypeEmbeddings)
        copier.copy(embeddingNorm, student.embeddingNorm)
        for (index, source) in kept.enumerated() {
            let from = layers[source], to = student.layers[index]
            copier.copy(from.queryKeyValue, to.queryKeyValue); copier.copy(from.attentionOutput, to.attentionOutput)
            copier.copy(from.attentionNorm, to.attentionNorm); copier.copy(from.intermediate, to.intermediate)
            copier.copy(from.output, to.output); copier.copy(from.outputNorm, to.outputNorm)
        }
        for (from, to) in zip(chosen, student.heads) { copier.copy(from.dense, to.dense); copier.copy(from.classifier, to.classifier) }
        return student
    }

    private func isHeadParameter(_ parameter: Parameter) -> Bool {
        heads.contains { head in
            [head.classifier.weight, head.classifier.bias, head.dense?.weight, head.dense?.bias].contains { $0?.offset == parameter.offset }
        }
    }

    /// Writes a model directory: `config.json`, `model.safetensors` (fp32), `tasks.json`, and the
    /// tokenizer files copied from `tokenizerDirectory`; `extraTasks` (heads trained outside this
    /// store, e.g. a relation head) and their `extraTensors` are written beside its own.
    public func save(to directory: String, tokenizerDirectory: String, metadata: [String: String] = [:], extraTasks: [TaskSpec] = [],
                     extraTensors: [TensorRecord] = []) throws(TrainingError) {
        let manager = FileManager.default
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var encoderConfig = config
            encoderConfig.labels = nil
            let json = try JSONSerialization.data(withJSONObject: encoderConfig.jsonObject(), options: [.prettyPrinted, .sortedKeys])
            try json.write(to: URL(fileURLWithPath: path("config.json")), options: .atomic)
            try TaskFile(tasks: heads.map(\.spec) + extraTasks).write(to: path("tasks.json"))
            for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
                let source = (tokenizerDirectory as NSString).appendingPathComponent(name)
                guard manager.fileExists(atPath: source), source != path(name) else { continue }
                if manager.fileExists(atPath: path(name)) { try manager.removeItem(atPath: path(name)) }
                try manager.copyItem(atPath: source, toPath: path(name))
            }
        } catch { throw .io(path: directory, reason: "cannot write the model: \(error.localizedDescription)") }
        do { try SafetensorsWriter.write(store.records() + extraTensors, metadata: metadata, to: path("model.safetensors")) } catch {
            throw .io(path: path("model.safetensors"), reason: error.description)
        }
    }
}
