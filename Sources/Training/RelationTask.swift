import Annotation
import Foundation
import Models
import Tensors
import Tokenization

/// How a relation head trains with the encoder, beside the token heads (`Trainer(relation:)`).
public struct RelationJointSettings: Codable, Sendable, Equatable {
    /// Weight of the relation loss (the mean binary cross-entropy over a step's candidate pairs)
    /// added to the token head's loss of the same step.
    public var weight = 0.2
    /// Training documents whose relation loss each step adds.
    public var documentsPerStep = 4
    /// Peak learning rate of the relation head's own parameters (the encoder follows the run's).
    public var learningRate = 1e-3
    /// true: the token head's gradient and the relation loss's gradient are clipped each on its
    /// own (the token head's to the run's maximum norm, the relation's to `weight` times it)
    /// before they are added; nil or false: their sum is clipped, as a single loss's would be
    /// (checkpoints written before this setting existed). Measured on the default model, the
    /// relation loss's encoder gradient is about 20 times the token head's at weight 1, so a
    /// clipped sum shrinks the token heads' update (docs/RELATIONS.md).
    public var clipSeparately: Bool? = true

    public init() {}
}

/// A document-level relation head (`RelationHead`) trained with the encoder and the token heads
/// in one run: every step adds the relation loss of a few training documents, whose sentences
/// pass through the encoder (dropout on) so that the loss's gradient reaches the encoder through
/// the wordpieces of the mentions and of the sentences that name both concepts. Candidates come
/// from the documents' gold entities, as in `biotag train-relations`; a tenth of the documents is
/// held out to score the head at each evaluation and choose its threshold.
public final class RelationTask {
    /// One document: its gold entities and relations, its sentences as `Annotator` cuts them,
    /// each sentence's `[CLS] wordpieces [SEP]`.
    public struct Example: Sendable {
        public let document: Document
        let tokens: DocumentTokens
        let ids: [[Int32]]
        let gold: Set<[String]>
    }

    public let name: String
    public let type: String
    public let arguments: [RelationArgument]
    public let features: [RelationFeature]
    public let train: [Example]
    public let heldOut: [Example]
    /// The head's parameters and their own optimizer.
    public let head: RelationTrainer
    let optimizer: AdamW
    /// The threshold chosen at the last evaluation (best held-out F1).
    var threshold = 0.5

    /// - Parameters:
    ///   - documents: documents with gold entities (with concept ids) and relations of `type`.
    ///   - head: the head to train, new or with a model's weights (`RelationTrainer.load`).
    ///   - maxPieces: wordpieces kept of a sentence (the model's positions less `[CLS]`, `[SEP]`).
    ///   - seed: which tenth of the documents is held out.
    public init(name: String, type: String, arguments: [RelationArgument], features: [RelationFeature], documents: [Document],
                tokenizer: WordPieceTokenizer, maxPieces: Int, head: RelationTrainer, seed: UInt64) throws(TrainingError) {
        guard arguments.count == 2 else { throw .data("relation '\(name)': a relation has two arguments, got \(arguments.count)") }
        guard head.features == features.count else {
            throw .data("relation '\(name)': the head reads \(head.features) features, the task lists \(features.count)")
        }
        let examples = documents.map { document in
            let (tokens, ids) = DocumentTokens.wordpieces(of: document, tokenizer: tokenizer, width: head.hidden, maxPieces: maxPieces)
            return Example(document: document, tokens: tokens, ids: ids.map { [tokenizer.clsId] + $0 + [tokenizer.sepId] },
                           gold: RelationPairs.relations(of: document, type: type))
        }
        guard examples.contains(where: { !$0.gold.isEmpty }) else {
            throw .data("relation '\(name)': no document has a \(type) relation")
        }
        // Every tenth document, in a seeded order, is held out (as `train-relations` holds out).
        var generator = SplitMix64(seed: seed)
        let heldOutIndices = Set(Array(examples.indices).shuffled(using: &generator).prefix(max(1, examples.count / 10)))
        guard heldOutIndices.count < examples.count else { throw .data("relation '\(name)': two documents at least are needed, one to hold out") }
        self.name = name; self.type = type; self.arguments = arguments; self.features = features; self.head = head
        train = examples.indices.filter { !heldOutIndices.contains($0) }.map { examples[$0] }
        heldOut = heldOutIndices.sorted().map { examples[$0] }
        optimizer = AdamW(store: head.store)
        optimizer.weightDecay = head.options.weightDecay
    }

    /// The head's entry of `tasks.json`, at the threshold of the last evaluation.
    public var spec: TaskSpec { head.spec(name: name, type: type, arguments: arguments, features: features, threshold: threshold) }

    /// The head's tensors under the names `spec` gives.
    public var records: [TensorRecord] { head.records(prefix: "heads.\(name)") }

    /// The sentences of `examples` packed in order, and the batch's sequence of each example's
    /// first sentence.
    func packed(_ examples: [Example]) -> (batch: PackedBatch, firstSequence: [Int]) {
        var batch = PackedBatch(), first: [Int] = []
        for example in examples {
            first.append(batch.count)
            for ids in example.ids { batch.append(ids) }
        }
        return (batch, first)
    }

    /// The examples' candidates and labels over the last hidden states of a pass over
    /// `packed(examples)` (`[rows, width]`).
    func documents(_ examples: [Example], hidden: UnsafePointer<Float>, packed: (batch: PackedBatch, firstSequence: [Int])) -> [RelationDocument] {
        let width = head.hidden
        return zip(examples, packed.firstSequence).map { example, first in
            var tokens = example.tokens
            for s in tokens.sentences.indices {
                let start = packed.batch.rows(of: first + s).lowerBound + 1
                tokens.sentences[s].vectors = Array(UnsafeBufferPointer(start: hidden + start * width, count: tokens.sentences[s].offsets.count * width))
            }
            let candidates = RelationExtraction.candidates(in: example.document, tokens: tokens, arguments: arguments, features: features)
            let labels = candidates.map { example.gold.contains([RelationPairs.normalized($0.first), RelationPairs.normalized($0.second)]) }
            return RelationDocument(candidates: candidates, tokens: tokens, labels: labels, unreachable: example.gold.count - labels.filter { $0 }.count)
        }
    }

    /// The gradient of the examples' relation loss with respect to the pass's last hidden states
    /// (`[rows, width]`, zero where no candidate reads a wordpiece), the head's own gradients
    /// added to its store.
    /// - Returns: the mean loss per candidate pair (0 without candidates).
    func backward(_ examples: [Example], hidden: UnsafePointer<Float>, packed: (batch: PackedBatch, firstSequence: [Int]), weight: Float,
                  into gradient: UnsafeMutablePointer<Float>) -> Double {
        let width = head.hidden
        gradient.update(repeating: 0, count: packed.batch.tokenCount * width)
        let result = head.hiddenGradients(documents(examples, hidden: hidden, packed: packed), weight: weight)
        for (first, perPlace) in zip(packed.firstSequence, result.gradients) {
            for (place, values) in perPlace {
                let row = packed.batch.rows(of: first + place.sentence).lowerBound + 1 + place.token
                let target = gradient + row * width
                for i in 0..<width { target[i] += values[i] }
            }
        }
        return result.pairs > 0 ? result.loss / Double(result.pairs) : 0
    }
}
