import Foundation
import Tensors

/// The shape of a token-classification head.
public enum HeadShape: String, Sendable, Codable {
    /// Hugging Face's `BertForTokenClassification`: one `Linear(hidden, labels)`.
    case linear
    /// `Linear(hidden, hidden)`, activation, `Linear(hidden, labels)`: the multi-task heads.
    case mlp
}

/// Per-token label scores: `[tokens, labels]` logits.
public struct TokenClassificationHead: Sendable {
    public let shape: HeadShape
    /// Present for `.mlp`.
    public let dense: LinearWeight?
    public let activation: Activation
    public let classifier: LinearWeight
    public let labels: [String]

    public init(shape: HeadShape, dense: LinearWeight?, activation: Activation, classifier: LinearWeight, labels: [String]) {
        self.shape = shape; self.dense = dense; self.activation = activation
        self.classifier = classifier; self.labels = labels
    }

    /// - Parameters:
    ///   - hidden: `[rows, hiddenSize]` encoder output.
    ///   - logits: `[rows, labels.count]`, written.
    ///   - scratch: `[rows, hiddenSize]` for the MLP's inner layer.
    public func apply(_ hidden: UnsafePointer<Float>, rows: Int, gemm: GemmRunner, scratch: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>) throws(DNNLError) {
        try apply(hidden, rows: rows, inner: dense.map { .fp32($0) }, gemm: gemm, scratch: scratch, logits: logits)
    }

    /// - Parameter inner: the MLP's first layer as the caller runs it (`dense`, or its int8
    ///   form in an int8 runner); nil for `.linear`.
    public func apply(_ hidden: UnsafePointer<Float>, rows: Int, inner: DenseWeight?, gemm: GemmRunner, scratch: UnsafeMutablePointer<Float>,
                      logits: UnsafeMutablePointer<Float>) throws(DNNLError) {
        if let inner {
            try gemm.linear(hidden, rows: rows, inner, into: scratch, epilogue: activation.epilogue)
            try gemm.linear(scratch, rows: rows, classifier, into: logits)
        } else {
            try gemm.linear(hidden, rows: rows, classifier, into: logits)
        }
    }
}

/// One score vector per sequence, read from its first (`[CLS]`) token: BERT's pooler
/// (`Linear` + tanh) or DistilBERT's pre-classifier (`Linear` + ReLU), then `Linear(hidden, labels)`.
public struct SequenceClassificationHead: Sendable {
    public let pooler: LinearWeight?
    public let poolerActivation: PoolerActivation
    public let classifier: LinearWeight
    public let labels: [String]

    public enum PoolerActivation: String, Sendable, Codable { case tanh, relu }

    public init(pooler: LinearWeight?, poolerActivation: PoolerActivation, classifier: LinearWeight, labels: [String]) {
        self.pooler = pooler; self.poolerActivation = poolerActivation; self.classifier = classifier; self.labels = labels
    }

    /// - Returns: `[sequences, labels]` logits.
    public func apply(_ hidden: UnsafePointer<Float>, batch: PackedBatch, gemm: GemmRunner) throws(DNNLError) -> [Float] {
        let width = classifier.inFeatures
        let first = FloatBuffer(count: batch.count * width)
        for s in 0..<batch.count {
            (first.pointer + s * width).update(from: hidden + batch.starts[s] * width, count: width)
        }
        var input = UnsafePointer(first.pointer)
        let pooled = FloatBuffer(count: batch.count * width)
        if let pooler {
            try gemm.linear(input, rows: batch.count, pooler, into: pooled.pointer, epilogue: poolerActivation == .relu ? .relu : .none)
            if poolerActivation == .tanh { for i in 0..<pooled.count { pooled.pointer[i] = tanhf(pooled.pointer[i]) } }
            input = UnsafePointer(pooled.pointer)
        }
        let logits = FloatBuffer(count: batch.count * labels.count)
        try gemm.linear(input, rows: batch.count, classifier, into: logits.pointer)
        return logits.array
    }
}

extension Activation {
    var epilogue: Epilogue {
        switch self {
        case .gelu: .geluErf
        case .geluTanh: .geluTanh
        case .relu: .relu
        }
    }
}
