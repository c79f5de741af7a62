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

    /// - Parameter precision: overrides the precision the weights file asks for (`ComputePrecision`).
    public init(directory: String, precision: ComputePrecision? = nil) throws(ModelLoadError) {
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
        weightsFile = file
        encoder = try EncoderWeights(config: config, file: file, precision: precision)
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
        func linear(_ role: String, out: Int) throws(ModelLoadError) -> LinearWeight? {
            guard let prefix = spec.tensors[role] else { return nil }
            return try file.linear(prefix, out: out, in: hidden)
        }
        let classifier = try linear("classifier", out: spec.labels.count)!
        switch spec.kind {
        case .tokenClassification:
            let shape = spec.head ?? .linear
            let dense = shape == .mlp ? try linear("dense", out: hidden) : nil
            return .token(TokenClassificationHead(shape: shape, dense: dense, activation: spec.activation ?? .gelu, classifier: classifier, labels: spec.labels))
        case .sequenceClassification:
            return .sequence(SequenceClassificationHead(pooler: try linear("pooler", out: hidden), poolerActivation: spec.poolerActivation ?? .tanh, classifier: classifier, labels: spec.labels))
        }
    }
}

/// The outputs of one forward pass: every head's logits.
public struct MultiTaskOutput: Sendable {
    /// Token heads: `[tokens, labels]` row-major, rows as in the packed batch.
    /// Sequence heads: `[sequences, labels]`.
    public var logits: [String: [Float]]
}

/// The first layers of the MLP token heads that share an activation, stacked into one
/// `[Σ inner widths, hidden]` weight: one GEMM over all those heads instead of one per head.
struct FusedHeadLayers {
    let names: [String]
    /// Column offset of each head's inner activations in the fused output.
    let offsets: [Int]
    let width: Int
    let dense: DenseWeight
    let epilogue: Epilogue

    /// - Parameter int8: quantize the stacked layer (per output row, activations per token as
    ///   the encoder's int8 layers do) when the encoder runs int8.
    init?(_ tasks: [MultiTaskModel.Task], hidden: Int, int8: Bool) {
        var chosen: [(String, LinearWeight, Epilogue)] = []
        for task in tasks {
            guard case let .token(head) = task.head, head.shape == .mlp, let dense = head.dense, dense.inFeatures == hidden else { continue }
            if let first = chosen.first, first.2 != head.activation.epilogue { continue }
            chosen.append((task.name, dense, head.activation.epilogue))
        }
        guard chosen.count >= 2 else { return nil }
        let width = chosen.reduce(0) { $0 + $1.1.outFeatures }
        let weights = FloatBuffer(count: width * hidden), biases = FloatBuffer(count: width)
        var offsets: [Int] = [], offset = 0
        for (_, dense, _) in chosen {
            offsets.append(offset)
            (weights.pointer + offset * hidden).update(from: dense.weight, count: dense.outFeatures * hidden)
            if let bias = dense.bias { (biases.pointer + offset).update(from: bias, count: dense.outFeatures) } else { (biases.pointer + offset).update(repeating: 0, count: dense.outFeatures) }
            offset += dense.outFeatures
        }
        names = chosen.map(\.0)
        self.offsets = offsets
        self.width = width
        epilogue = chosen[0].2
        let stacked = LinearWeight(weight: weights.pointer, bias: biases.pointer, outFeatures: width, inFeatures: hidden, owner: Storage(weights, biases))
        dense = int8 ? .int8(QuantizedLinearWeight(quantizing: stacked)) : .fp32(stacked)
    }

    /// Keeps the stacked weight and bias alive as long as the `LinearWeight` that points at them.
    final class Storage {
        let buffers: [FloatBuffer]
        init(_ buffers: FloatBuffer...) { self.buffers = buffers }
    }
}

/// Runs a `MultiTaskModel`: one encoder pass, then every head on the same hidden states. The
/// MLP token heads' first layers run as one GEMM when all of them are asked for.
public final class MultiTaskRunner: @unchecked Sendable {
    public let model: MultiTaskModel
    public let encoder: EncoderRunner
    private var headScratch = ScratchSlot()
    private var fusedScratch = ScratchSlot()
    private let fused: FusedHeadLayers?
    /// Whether the heads' first layers run int8 (they follow the encoder).
    private let int8Heads: Bool
    /// In int8, the MLP token heads' first layers for a head run alone (outside the fused
    /// layer), quantized per output row the first time that head runs alone.
    private var quantizedInnerLayers: [String: DenseWeight] = [:]

    public init(model: MultiTaskModel, threads: Int = 1) throws(DNNLError) {
        self.model = model
        encoder = try EncoderRunner(weights: model.encoder, threads: threads)
        int8Heads = model.encoder.precision == .int8
        fused = FusedHeadLayers(model.tasks, hidden: model.config.hiddenSize, int8: int8Heads)
    }

    /// A token head's first layer as this runner runs it alone.
    private func innerLayer(_ task: String, _ head: TokenClassificationHead) -> DenseWeight? {
        guard let dense = head.dense else { return nil }
        guard int8Heads else { return .fp32(dense) }
        if let quantized = quantizedInnerLayers[task] { return quantized }
        let quantized = DenseWeight.int8(QuantizedLinearWeight(quantizing: dense))
        quantizedInnerLayers[task] = quantized
        return quantized
    }

    public func shutdown() { encoder.shutdown() }

    /// - Parameter tasks: the heads to run (all when nil).
    public func forward(_ batch: PackedBatch, tasks: Set<String>? = nil) throws -> MultiTaskOutput {
        let hidden = try encoder.forward(batch)
        var logits: [String: [Float]] = [:]
        let rows = batch.tokenCount
        // The stacked first layers, when every head in them is wanted.
        var inner: UnsafeMutablePointer<Float>?
        if let fused, fused.names.allSatisfy({ tasks?.contains($0) ?? true }) {
            let buffer = fusedScratch.take(rows * fused.width)
            try encoder.gemm.linear(hidden, rows: rows, fused.dense, into: buffer, epilogue: fused.epilogue)
            inner = buffer
        }
        for task in model.tasks where tasks?.contains(task.name) ?? true {
            switch task.head {
            case let .token(head):
                let out = FloatBuffer(count: rows * head.labels.count)
                if let inner, let fused, let slot = fused.names.firstIndex(of: task.name) {
                    try encoder.gemm.linear(inner + fused.offsets[slot], rows: rows, head.classifier, into: out.pointer, inputStride: fused.width)
                } else {
                    let inner = innerLayer(task.name, head)
                    try head.apply(hidden, rows: rows, inner: inner, gemm: encoder.gemm, scratch: headScratch.take(rows * (inner?.outFeatures ?? 0)),
                                   logits: out.pointer)
                }
                logits[task.name] = out.array
            case let .sequence(head):
                logits[task.name] = try head.apply(hidden, batch: batch, gemm: encoder.gemm)
            }
        }
        return MultiTaskOutput(logits: logits)
    }
}
