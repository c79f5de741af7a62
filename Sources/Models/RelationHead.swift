import Foundation
import Tensors

/// A document-level feature of a candidate concept pair, beside the pooled concepts
/// (`RelationHead`). Mentions are the entities that carry the concept.
public enum RelationFeature: String, Codable, Sendable, CaseIterable {
    /// 1 when a mention of each concept share a sentence.
    case sameSentence = "same_sentence"
    /// log(1 + the fewest sentences between a mention of each).
    case sentenceDistance = "sentence_distance"
    /// 1 when the first (second) concept is named in the document's first passage (a title) of
    /// several.
    case firstInTitle = "first_in_title"
    case secondInTitle = "second_in_title"
    /// log(1 + the number of mentions of the first (second) concept).
    case firstMentions = "first_mentions"
    case secondMentions = "second_mentions"
}

/// Where one mention of a concept lies: the sentence of the document (numbered over all its
/// passages) and the passage.
public struct MentionPlace: Sendable, Equatable {
    public var sentence: Int
    public var passage: Int

    public init(sentence: Int, passage: Int) {
        self.sentence = sentence
        self.passage = passage
    }
}

extension RelationFeature {
    /// The features of a pair from where their mentions lie.
    /// - Parameter passages: how many passages the document has.
    public static func values(_ features: [RelationFeature], first: [MentionPlace], second: [MentionPlace], passages: Int) -> [Float] {
        let distance = first.lazy.flatMap { a in second.lazy.map { b in abs(a.sentence - b.sentence) } }.min() ?? 0
        return features.map { feature in
            switch feature {
            case .sameSentence: distance == 0 ? 1 : 0
            case .sentenceDistance: logf(1 + Float(distance))
            case .firstInTitle: passages > 1 && first.contains { $0.passage == 0 } ? 1 : 0
            case .secondInTitle: passages > 1 && second.contains { $0.passage == 0 } ? 1 : 0
            case .firstMentions: logf(1 + Float(first.count))
            case .secondMentions: logf(1 + Float(second.count))
            }
        }
    }
}

/// A relation between two concepts of a document (BioCreative V's chemical-induced disease:
/// document level, between concept ids), scored from the encoder pass the token heads run on.
///
/// In the pass, `projection` maps every token's hidden state to `width` values (a few percent of
/// one encoder layer). A mention is the mean of its tokens' projections; a concept, the
/// elementwise max over its mentions; the pair's context, the elementwise max over every token
/// of the sentences where both are named (zeros when none is). A pair (a, b) with context c is
/// scored by an MLP over `[a, b, a ⊙ b, c, features]`: `dense`, the activation, then
/// `classifier` (one logit).
public struct RelationHead: Sendable {
    /// The relation type (`CID`).
    public let type: String
    public let arguments: [RelationArgument]
    public let features: [RelationFeature]
    public let projection: LinearWeight
    public let dense: LinearWeight
    public let activation: Activation
    public let classifier: LinearWeight
    /// A pair whose probability reaches it is a relation.
    public let threshold: Double

    public var width: Int { projection.outFeatures }

    public init(type: String, arguments: [RelationArgument], features: [RelationFeature], projection: LinearWeight, dense: LinearWeight,
                activation: Activation, classifier: LinearWeight, threshold: Double) {
        self.type = type; self.arguments = arguments; self.features = features; self.projection = projection
        self.dense = dense; self.activation = activation; self.classifier = classifier; self.threshold = threshold
    }

    /// The input width of `dense` for a projection `width` and `features` features.
    public static func pairWidth(width: Int, features: Int) -> Int { 4 * width + features }

    /// The elementwise max over vectors of `width` values; zeros when there are none.
    public static func pooled(_ vectors: [[Float]], width: Int) -> [Float] {
        guard var result = vectors.first else { return [Float](repeating: 0, count: width) }
        for vector in vectors.dropFirst() { for i in result.indices { result[i] = max(result[i], vector[i]) } }
        return result
    }

    /// The MLP's input for a pair of pooled concepts and their pooled context.
    public static func pairInput(_ a: [Float], _ b: [Float], context: [Float], features: [Float]) -> [Float] {
        a + b + zip(a, b).map { $0 * $1 } + context + features
    }

    /// The probability that the relation holds between two pooled concepts with their context.
    public func probability(first: [Float], second: [Float], context: [Float], features values: [Float]) -> Double {
        let input = Self.pairInput(first, second, context: context, features: values)
        precondition(input.count == dense.inFeatures, "a relation pair has \(input.count) inputs, the head takes \(dense.inFeatures)")
        var pre = [Float](repeating: 0, count: dense.outFeatures), post = pre
        return 1 / (1 + exp(-Double(Self.logit(input, dense: dense, classifier: classifier, activation: activation, pre: &pre, post: &post))))
    }

    /// The pair MLP on one input: `dense`, the activation, `classifier` (one output). Inference
    /// and training (`RelationTrainer`) both run it.
    /// - Parameters:
    ///   - pre: `[dense.outFeatures]`, written: `dense`'s outputs.
    ///   - post: `[dense.outFeatures]`, written: their activations.
    public static func logit(_ input: [Float], dense: LinearWeight, classifier: LinearWeight, activation: Activation, pre: inout [Float], post: inout [Float]) -> Float {
        var logit = classifier.bias?[0] ?? 0
        for o in 0..<dense.outFeatures {
            var sum = dense.bias?[o] ?? 0
            let row = dense.weight + o * dense.inFeatures
            for i in 0..<dense.inFeatures { sum += row[i] * input[i] }
            pre[o] = sum
            post[o] = activation.apply(sum)
            logit += classifier.weight[o] * post[o]
        }
        return logit
    }
}

extension Activation {
    /// The activation of one value.
    public func apply(_ x: Float) -> Float {
        switch self {
        case .gelu: 0.5 * x * (1 + erff(x / Float(2).squareRoot()))
        case .geluTanh: 0.5 * x * (1 + tanhf(0.797_884_56 * (x + 0.044_715 * x * x * x)))
        case .relu: max(0, x)
        }
    }

}
