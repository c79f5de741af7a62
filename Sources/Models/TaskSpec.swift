import Foundation

/// One head of a model directory, as `tasks.json` describes it. Tensor names are explicit
/// prefixes into `model.safetensors` (`<prefix>.weight`, `<prefix>.bias`), never guessed.
public struct TaskSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case tokenClassification = "token_classification", sequenceClassification = "sequence_classification"
        /// A relation between two concepts of a document (`RelationHead`): `labels` is the
        /// relation's one type (`CID`).
        case relation
    }

    public var name: String
    public var kind: Kind
    public var labels: [String]
    /// Token classification: `linear` or `mlp`.
    public var head: HeadShape?
    /// Activation between the MLP's layers (token classification) — default `gelu`.
    public var activation: Activation?
    /// Linear layer prefixes: `classifier` always; `dense` for an MLP head; `pooler` for a
    /// sequence head (with `poolerActivation`, `tanh` for BERT, `relu` for DistilBERT).
    public var tensors: [String: String]
    public var poolerActivation: SequenceClassificationHead.PoolerActivation?
    /// The MLP head's inner width (`inner_size`; default: the encoder's hidden size). Pruning
    /// narrows it.
    public var innerSize: Int?
    /// A relation head's two arguments, in order: their roles and the entity types that fill them.
    public var arguments: [RelationArgument]?
    /// A relation head's document features beside the pooled concepts, in input order.
    public var features: [RelationFeature]?
    /// A relation head's decision threshold on its probability (default 0.5).
    public var threshold: Double?

    public init(name: String, kind: Kind, labels: [String], head: HeadShape? = nil, activation: Activation? = nil, tensors: [String: String],
                poolerActivation: SequenceClassificationHead.PoolerActivation? = nil, innerSize: Int? = nil,
                arguments: [RelationArgument]? = nil, features: [RelationFeature]? = nil, threshold: Double? = nil) {
        self.name = name; self.kind = kind; self.labels = labels; self.head = head
        self.activation = activation; self.tensors = tensors; self.poolerActivation = poolerActivation; self.innerSize = innerSize
        self.arguments = arguments; self.features = features; self.threshold = threshold
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, labels, head, activation, tensors, poolerActivation = "pooler_activation", innerSize = "inner_size"
        case arguments, features, threshold
    }
}

/// One argument of a relation head: its role (`chemical`) and the entity types whose concepts
/// fill it (a head's task name, as entities carry it).
public struct RelationArgument: Codable, Sendable, Equatable {
    public var role: String
    public var types: [String]

    public init(role: String, types: [String]) {
        self.role = role
        self.types = types
    }
}

/// `tasks.json`: the heads of a model directory.
public struct TaskFile: Codable, Sendable, Equatable {
    public static let currentVersion = 1
    public var format = "biotag.tasks"
    public var version = TaskFile.currentVersion
    public var tasks: [TaskSpec]
    /// The model's name and version as annotations record them (optional: the directory name
    /// and a fingerprint of the weights stand in).
    public var name: String?
    public var modelVersion: String?

    enum CodingKeys: String, CodingKey {
        case format, version, tasks, name
        case modelVersion = "model_version"
    }

    public init(tasks: [TaskSpec], name: String? = nil, modelVersion: String? = nil) {
        self.tasks = tasks
        self.name = name
        self.modelVersion = modelVersion
    }

    public static func load(path: String) throws(ModelLoadError) -> TaskFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        let file: TaskFile
        do { file = try JSONDecoder().decode(TaskFile.self, from: data) } catch {
            throw .invalidTasks(file: path, reason: "\(error)")
        }
        guard file.format == "biotag.tasks" else { throw .invalidTasks(file: path, reason: "format is '\(file.format)', expected 'biotag.tasks'") }
        guard file.version <= currentVersion else {
            throw .invalidTasks(file: path, reason: "version \(file.version) is newer than this biotag reads (\(currentVersion))")
        }
        var seen = Set<String>()
        for task in file.tasks {
            guard !task.name.isEmpty, seen.insert(task.name).inserted else {
                throw .invalidTasks(file: path, reason: "task names must be unique and non-empty ('\(task.name)')")
            }
            guard !task.labels.isEmpty else { throw .invalidTasks(file: path, reason: "task '\(task.name)' has no labels") }
            guard task.tensors["classifier"] != nil else { throw .invalidTasks(file: path, reason: "task '\(task.name)' names no classifier tensor") }
            if task.kind == .tokenClassification, task.head == .mlp, task.tensors["dense"] == nil {
                throw .invalidTasks(file: path, reason: "MLP task '\(task.name)' names no dense tensor")
            }
            if task.kind == .relation { try validateRelation(task, file: path) }
            if let inner = task.innerSize, inner < 1 { throw .invalidTasks(file: path, reason: "task '\(task.name)' has inner_size \(inner); it must be positive") }
        }
        return file
    }

    private static func validateRelation(_ task: TaskSpec, file path: String) throws(ModelLoadError) {
        guard task.labels.count == 1 else {
            throw .invalidTasks(file: path, reason: "relation task '\(task.name)' has \(task.labels.count) labels; it names one relation type")
        }
        guard let arguments = task.arguments, arguments.count == 2, arguments.allSatisfy({ !$0.role.isEmpty && !$0.types.isEmpty }) else {
            throw .invalidTasks(file: path, reason: "relation task '\(task.name)' needs two arguments, each with a role and entity types")
        }
        for role in ["projection", "dense"] where task.tensors[role] == nil {
            throw .invalidTasks(file: path, reason: "relation task '\(task.name)' names no \(role) tensor")
        }
        if let threshold = task.threshold, !(threshold > 0 && threshold < 1) {
            throw .invalidTasks(file: path, reason: "relation task '\(task.name)' has threshold \(threshold); it must lie between 0 and 1")
        }
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
