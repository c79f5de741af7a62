import Foundation
import Tensors
import Tokenization

/// A model directory loaded: one encoder, its tokenizer, and any number of named heads.
///
/// The directory is Hugging Face's layout (`config.json`, `model.safetensors`, `vocab.txt` or
/// `tokenizer.json`) plus biotag's `tasks.json`. Without `tasks.json`, a `…ForTokenClassification`
/// or `…ForSequenceClassification` checkpoint gets one task named `ner` or `classify` from its
/// `id2label`; a bare encoder has no heads.
public final class MultiTaskModel: @unchecked Sendable {
    public enum Head: Sendable {
        case token(TokenClassificationHead)
        case sequence(SequenceClassificationHead)
        case relation(RelationHead)
    }

    public struct Task: Sendable {
        public let spec: TaskSpec
        public let head: Head
        public var name: String { spec.name }
    }

    public let directory: String
    public let encoder: EncoderWeights
    public let tokenizer: WordPieceTokenizer
    public let tasks: [Task]
    public var config: EncoderConfig { encoder.config }
    public let weightsFile: SafetensorsFile
    /// Name and version from `tasks.json`, when it gives them.
    public let name: String?
    public let version: String?

    /// - Parameters:
    ///   - precision: overrides the precision the weights file asks for (`ComputePrecision`).
    ///   - int8Layers: in int8, which layers run int8 at which row counts; nil reads
    ///     `BIOTAG_INT8_LAYERS`, else the CPU's default (`Int8LayerPolicy`).
    public init(directory: String, precision: ComputePrecision? = nil, int8Layers: Int8LayerPolicy? = nil) throws(ModelLoadError) {
        self.directory = directory
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .missingFile("\(directory) (not a model directory)")
        }
        let config = try EncoderConfig.load(path: path("config.json"))
        guard FileManager.default.fileExists(atPath: path("model.safetensors")) else { throw .missingFile(path("model.safetensors")) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path("model.safetensors")) } catch { throw .weights(error) }
        if let bad = file.firstNonFinite() { throw .nonFinite(file: path("model.safetensors"), tensor: bad.tensor, index: bad.index) }
        weightsFile = file
        encoder = try EncoderWeights(config: config, file: file, precision: precision, int8Layers: int8Layers)
        do { tokenizer = try WordPieceTokenizer.load(directory: directory) } catch {
            throw .tokenizer("\(directory): \(error.description)")
        }
        let specs: [TaskSpec]
        if FileManager.default.fileExists(atPath: path("tasks.json")) {
            let file = try TaskFile.load(path: path("tasks.json"))
            (specs, name, version) = (file.tasks, file.name, file.modelVersion)
        } else {
            (specs, name, version) = (Self.implicitTasks(config), nil, nil)
        }
        var tasks: [Task] = []
        for spec in specs { tasks.append(Task(spec: spec, head: try Self.loadHead(spec, config: config, file: file))) }
        self.tasks = tasks
    }

    /// The task a plain `transformers` classification checkpoint implies.
    public static func implicitTasks(_ config: EncoderConfig) -> [TaskSpec] {
        guard let labels = config.labels, let kind = config.checkpointClass else { return [] }
        if kind.hasSuffix("ForTokenClassification") {
            return [TaskSpec(name: "ner", kind: .tokenClassification, labels: labels, head: .linear, tensors: ["classifier": "classifier"])]
        }
        if kind.hasSuffix("ForSequenceClassification") {
            let pooler = config.architecture == .bert ? "bert.pooler.dense" : "pre_classifier"
            return [TaskSpec(name: "classify", kind: .sequenceClassification, labels: labels, tensors: ["classifier": "classifier", "pooler": pooler],
                             poolerActivation: config.architecture == .bert ? .tanh : .relu)]
        }
        return []
    }

    static func loadHead(_ spec: TaskSpec, config: EncoderConfig, file: SafetensorsFile) throws(ModelLoadError) -> Head {
        let hidden = config.hiddenSize
        func linear(_ role: String, out: Int, in inFeatures: Int = hidden) throws(ModelLoadError) -> LinearWeight? {
            guard let prefix = spec.tensors[role] else { return nil }
            return try file.linear(prefix, out: out, in: inFeatures)
        }
        switch spec.kind {
        case .tokenClassification:
            let shape = spec.head ?? .linear
            let dense = shape == .mlp ? try linear("dense", out: spec.innerSize ?? hidden) : nil
            let classifier = try linear("classifier", out: spec.labels.count, in: dense?.outFeatures ?? hidden)!
            return .token(TokenClassificationHead(shape: shape, dense: dense, activation: spec.activation ?? .gelu, classifier: classifier, labels: spec.labels))
        case .sequenceClassification:
            let classifier = try linear("classifier", out: spec.labels.count)!
            return .sequence(SequenceClassificationHead(pooler: try linear("pooler", out: hidden), poolerActivation: spec.poolerActivation ?? .tanh, classifier: classifier, labels: spec.labels))
        case .relation:
            // The projection's width is read from the file; the pair MLP's from it and the features.
            guard let prefix = spec.tensors["projection"] else { throw .invalidTasks(file: "tasks.json", reason: "relation task '\(spec.name)' names no projection tensor") }
            let width: Int
            do { width = try file.info(prefix + ".weight").shape.first ?? 0 } catch { throw .weights(error) }
            let features = spec.features ?? []
            let projection = try linear("projection", out: width)!
            let dense = try linear("dense", out: spec.innerSize ?? width, in: RelationHead.pairWidth(width: width, features: features.count))!
            let classifier = try linear("classifier", out: 1, in: dense.outFeatures)!
            return .relation(RelationHead(type: spec.labels[0], arguments: spec.arguments ?? [], features: features, projection: projection, dense: dense,
                                          activation: spec.activation ?? .gelu, classifier: classifier, threshold: spec.threshold ?? 0.5))
        }
    }
}
