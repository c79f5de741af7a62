import Foundation
import Models
import Tensors
import Tokenization

/// Hyper-parameters of a training run; stored with every checkpoint so that a resumed run
/// continues the same run.
public struct TrainingSettings: Codable, Sendable, Equatable {
    public var epochs: Double = 3
    public var batchSize = 32
    public var learningRate = 5e-5
    /// Fraction of all steps spent warming the learning rate up from 0.
    public var warmup = 0.1
    public var weightDecay = 0.01
    public var maxGradientNorm = 1.0
    public var dropout: Float = 0.1
    public var maxLength = 128
    public var seed: UInt64 = 13
    /// Tasks are drawn with probability ∝ (training windows)^alpha: 1 is proportional to corpus
    /// size, 0 is uniform.
    public var alpha = 0.5
    /// Windows from other corpora added to each batch, as a fraction of the batch size: their
    /// words inside gold entities of another type are `O` for the batch's head, the rest ignored.
    public var negativeRate = 0.0
    /// Per task name, a negative rate that replaces `negativeRate` for that head's batches.
    public var negativeRateByTask: [String: Double]?
    /// With negatives: another corpus's entity stays unknown (not `O`) for a head when it holds a
    /// word that, in the head's own training corpus, lies inside the head's entities in at least
    /// this share of its occurrences (and at least twice), e.g. the gene name "human insulin" for
    /// the species head. nil: every word inside another type's entity is `O`.
    public var headWordShare: Double?
    /// Stop after this many steps (the schedule still spans the full run).
    public var maxSteps: Int?
    /// Evaluate on devel every this many steps (nil: at the end of each epoch).
    public var evaluateEvery: Int?
    /// Devel sentences per task used for model selection (nil: all).
    public var develLimit: Int?
    public var checkpointEvery = 500
    public var threads = 2
    /// Set when a teacher's soft labels train every head on every batch (`Trainer(teacher:)`).
    public var distillation: DistillationSettings?
    /// Set when a relation head trains with the encoder beside the token heads (`Trainer(relation:)`).
    public var relation: RelationJointSettings?

    public init() {}

    /// The negative rate of one head's batches.
    public func negativeRate(for task: String) -> Double { negativeRateByTask?[task] ?? negativeRate }

    /// Whether any head gets negatives.
    public var usesNegatives: Bool { negativeRate > 0 || (negativeRateByTask ?? [:]).values.contains { $0 > 0 } }
}

/// How a student learns from its teacher: on every batch, each head matches the teacher's head
/// on every word (soft labels at `temperature`), each head also learns its own corpus's gold
/// labels on that corpus's windows, and the encoder's last hidden states and last attention
/// maps may match the teacher's (same width, same heads only).
public struct DistillationSettings: Codable, Sendable, Equatable {
    /// Softens both distributions; the loss is scaled by T² so its gradient keeps its size.
    public var temperature = 2.0
    /// Weight of the soft-label loss (mean over words, summed over heads).
    public var softWeight = 1.0
    /// Weight of the gold cross-entropy (mean over a head's labelled words, summed over heads).
    public var goldWeight = 1.0
    /// Weight of the mean squared difference of the last hidden states (0: not used).
    public var hiddenWeight = 0.0
    /// Weight of the last layer's attention-map loss (MiniLM's attention transfer): the KL
    /// divergence of each of the student's attention rows from the teacher's, averaged over
    /// every head's rows (nil or 0: not used; the same number of heads only).
    public var attentionWeight: Double?

    public init() {}
}
