import Foundation
import Models

/// How word labels are read off a head's per-word probabilities: the same choice for
/// `biotag annotate` and `biotag eval`.
public enum Decoding: String, Sendable, Codable, CaseIterable {
    /// Each word's best label, read as seqeval's default mode reads IOB2 (an `I-X` after `O` or
    /// another type opens an entity).
    case argmax
    /// The best valid IOB2 label sequence per sentence (constrained Viterbi over log-probabilities).
    case viterbi
}

/// What the pipeline does with a model's outputs; recorded with every annotation run.
public struct AnnotationSettings: Sendable, Equatable {
    /// Heads to run (nil: every token-classification head).
    public var tasks: [String]?
    public var aggregation: AggregationStrategy = .first
    public var decoding: Decoding = .viterbi
    /// Longest piece the encoder sees, `[CLS]` and `[SEP]` included; longer sentences are cut into
    /// windows. The models are trained on 128.
    public var maxLength = 128
    /// Wordpieces shared by consecutive windows; each wordpiece takes its prediction from the
    /// window where it sits furthest from a cut edge.
    public var stride = 32
    /// Most wordpieces in one forward pass (pieces of many documents, sorted by length).
    public var tokenBudget = 8192
    /// Every head's decoded spans as they are: no edge repair (`EntityBoundaries`), no
    /// `OverlapPolicy` between heads.
    public var raw = false
    /// How heads that found the same words are reconciled (unless `raw`); nil: not at all, each
    /// head reports its own spans.
    public var overlaps: OverlapPolicy? = OverlapPolicy()

    public init() {}

    /// Checks that the settings are usable with a model of `maxPositions` positions.
    public func validate(maxPositions: Int) throws(AnnotationError) {
        guard maxLength >= 8, maxLength <= maxPositions else {
            throw .invalidSettings("max length \(maxLength) must be between 8 and the model's \(maxPositions) positions")
        }
        guard stride >= 0, stride <= (maxLength - 2) / 2 else {
            throw .invalidSettings("stride \(stride) must be between 0 and half the window (\((maxLength - 2) / 2))")
        }
        guard tokenBudget >= maxLength else { throw .invalidSettings("token budget \(tokenBudget) is below the max length \(maxLength)") }
    }
}

/// The settings' JSON is the catalog's record of a run (a run is found again by it), so its keys
/// stay those of the first catalogs: decoding is the boolean `viterbi`.
extension AnnotationSettings: Codable {
    enum CodingKeys: String, CodingKey { case tasks, aggregation, viterbi, maxLength, stride, tokenBudget, raw, overlapMargin }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tasks = try container.decodeIfPresent([String].self, forKey: .tasks)
        aggregation = try container.decode(AggregationStrategy.self, forKey: .aggregation)
        decoding = try container.decode(Bool.self, forKey: .viterbi) ? .viterbi : .argmax
        maxLength = try container.decode(Int.self, forKey: .maxLength)
        stride = try container.decode(Int.self, forKey: .stride)
        tokenBudget = try container.decode(Int.self, forKey: .tokenBudget)
        // Runs recorded before edges were repaired and overlaps resolved reported raw spans.
        raw = try container.decodeIfPresent(Bool.self, forKey: .raw) ?? true
        overlaps = try container.decodeIfPresent(Double.self, forKey: .overlapMargin).map { OverlapPolicy(margin: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(tasks, forKey: .tasks)
        try container.encode(aggregation, forKey: .aggregation)
        try container.encode(decoding == .viterbi, forKey: .viterbi)
        try container.encode(maxLength, forKey: .maxLength)
        try container.encode(stride, forKey: .stride)
        try container.encode(tokenBudget, forKey: .tokenBudget)
        try container.encode(raw, forKey: .raw)
        if !raw { try container.encodeIfPresent(overlaps?.margin, forKey: .overlapMargin) }
    }
}
