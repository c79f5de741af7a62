import Foundation

/// How labels are read into entities, following Python seqeval 1.2.2.
public enum SeqevalMode: String, Sendable, Codable {
    /// seqeval's default (conlleval-style `get_entities`): an `I-` after `O` or after another type
    /// opens an entity, a type switch inside a span splits it, and `E-`/`S-` tags are understood.
    case lenient
    /// `mode="strict", scheme=IOB2`: an entity is a `B-X` followed by the `I-X` tokens of the same
    /// type; stray `I-` tokens belong to no entity. Only `B-`, `I-` and `O` labels are allowed.
    case strict
}

/// One entity of one sentence: a type and a word range.
public struct Chunk: Hashable, Sendable {
    public let type: String
    /// First word of the entity.
    public let start: Int
    /// One past the last word (seqeval's `get_entities` reports `end - 1`).
    public let end: Int

    public init(type: String, start: Int, end: Int) {
        self.type = type
        self.start = start
        self.end = end
    }
}

/// The entities of one sentence's labels, in order of their end.
///
/// Lenient mode reproduces seqeval's `get_entities` on that sentence alone: the prefix is the first
/// character, the type the text after the first `-` of the rest (the whole rest when it has no
/// `-`; `_` when empty). Strict mode reproduces `Tokens(labels, IOB2).entities`, whose type is the
/// text after the prefix with `-` stripped from both ends. An empty label reads as `O`, and in strict
/// mode so does a label with another prefix (seqeval rejects it; `SeqevalReport.evaluate` throws).
public func chunks(_ labels: [String], mode: SeqevalMode) -> [Chunk] {
    switch mode {
    case .lenient: return lenientChunks(labels)
    case .strict: return strictChunks(labels)
    }
}

// MARK: - Lenient reading (seqeval's end_of_chunk / start_of_chunk)

/// A label as seqeval's default reader splits it.
struct LenientToken {
    let prefix: Unicode.Scalar
    let type: String

    /// The state before a sentence: an `O` whose type is empty (not `_`), as in `get_entities`.
    static let start = LenientToken(prefix: "O", type: "")
    /// The `O` appended after the last word, which closes an open entity.
    static let sentinel = LenientToken(prefix: "O", type: "_")

    init(prefix: Unicode.Scalar, type: String) {
        self.prefix = prefix
        self.type = type
    }

    init(_ label: String) {
        guard let first = label.unicodeScalars.first else {
            self = .sentinel
            return
        }
        let rest = label.unicodeScalars.dropFirst()
        let type = rest.firstIndex(of: "-").map { rest[rest.index(after: $0)...] } ?? rest
        self.init(prefix: first, type: type.isEmpty ? "_" : String(Substring(type)))
    }

    /// Whether reading `self` after `previous` closes the entity that `previous` belongs to.
    /// Tags other than O, B, I, E, S and `.` only end an entity through a type change; `O` and `.`
    /// never do.
    func ends(after previous: LenientToken) -> Bool {
        switch (previous.prefix, prefix) {
        case ("E", _), ("S", _): return true
        case ("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O"): return true
        default: return previous.prefix != "O" && previous.prefix != "." && previous.type != type
        }
    }

    /// Whether `self` opens an entity when read after `previous`. `I-` and `E-` open one after `O`,
    /// `E-` or `S-`; any tag but `O` and `.` opens one when its type differs from the previous type.
    func starts(after previous: LenientToken) -> Bool {
        switch (previous.prefix, prefix) {
        case (_, "B"), (_, "S"): return true
        case ("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I"): return true
        default: return prefix != "O" && prefix != "." && previous.type != type
        }
    }
}

private func lenientChunks(_ labels: [String]) -> [Chunk] {
    var found: [Chunk] = []
    var previous = LenientToken.start
    var begin = 0
    for index in 0...labels.count {
        let token = index < labels.count ? LenientToken(labels[index]) : .sentinel
        // Like seqeval, `begin` survives a closed entity: in rare sequences such as `E-A .-A I-A`
        // an entity that never opened closes with the previous start (here A 0..<3 after A 0..<1).
        if token.ends(after: previous) { found.append(Chunk(type: previous.type, start: begin, end: index)) }
        if token.starts(after: previous) { begin = index }
        previous = token
    }
    return found
}

// MARK: - Strict IOB2 reading (seqeval.scheme.Tokens with IOB2)

/// The prefix and type of a label as `seqeval.scheme.Token` splits it: type = the rest with `-`
/// stripped from both ends, `_` when empty. `nil` when the prefix is not B, I or O.
private func iob2Parts(_ label: String) -> (prefix: Unicode.Scalar, type: String)? {
    guard let first = label.unicodeScalars.first, first == "B" || first == "I" || first == "O" else { return nil }
    var rest = label.unicodeScalars.dropFirst().drop { $0 == "-" }
    while rest.last == "-" { rest = rest.dropLast() }
    return (first, rest.isEmpty ? "_" : String(Substring(rest)))
}

private func strictChunks(_ labels: [String]) -> [Chunk] {
    var found: [Chunk] = []
    var open: (type: String, start: Int)?
    for (index, label) in labels.enumerated() {
        let (prefix, type) = iob2Parts(label) ?? ("O", "_")
        if let entity = open {
            if prefix == "I" && type == entity.type { continue }
            found.append(Chunk(type: entity.type, start: entity.start, end: index))
            open = nil
        }
        if prefix == "B" { open = (type, index) }
    }
    if let entity = open { found.append(Chunk(type: entity.type, start: entity.start, end: labels.count)) }
    return found
}

// MARK: - Scores

/// Entity counts of one type (or of all types together).
public struct EntityCounts: Sendable, Codable, Equatable {
    /// Predicted entities that equal a gold entity: same sentence, type, start and end.
    public var truePositives = 0
    public var predicted = 0
    public var gold = 0

    public init(truePositives: Int = 0, predicted: Int = 0, gold: Int = 0) {
        self.truePositives = truePositives
        self.predicted = predicted
        self.gold = gold
    }

    static func + (lhs: EntityCounts, rhs: EntityCounts) -> EntityCounts {
        EntityCounts(truePositives: lhs.truePositives + rhs.truePositives,
                     predicted: lhs.predicted + rhs.predicted, gold: lhs.gold + rhs.gold)
    }
}

/// Precision, recall and F1 as seqeval computes them, with 0 for a zero denominator.
public struct SeqevalScore: Sendable, Codable, Equatable {
    /// truePositives / predicted.
    public let precision: Double
    /// truePositives / gold.
    public let recall: Double
    /// 2·precision·recall / (precision + recall), from the two rounded ratios as numpy does.
    public let f1: Double
    /// Gold entities (the `support` column of seqeval's classification report).
    public let support: Int

    public init(_ counts: EntityCounts) {
        precision = counts.predicted == 0 ? 0 : Double(counts.truePositives) / Double(counts.predicted)
        recall = counts.gold == 0 ? 0 : Double(counts.truePositives) / Double(counts.gold)
        f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        support = counts.gold
    }
}

/// Why an evaluation could not be scored.
public enum SeqevalError: Error, CustomStringConvertible, Equatable {
    case sentenceCountMismatch(gold: Int, predicted: Int)
    case lengthMismatch(sentence: Int, gold: Int, predicted: Int)
    /// Strict IOB2 mode met a label whose prefix is not `B`, `I` or `O`.
    case invalidLabel(String, sentence: Int, word: Int)

    public var description: String {
        switch self {
        case let .sentenceCountMismatch(gold, predicted):
            "expected as many predicted sentences as gold sentences, found \(predicted) predicted for \(gold) gold"
        case let .lengthMismatch(sentence, gold, predicted):
            "sentence \(sentence): expected \(gold) predicted labels like the gold labels, found \(predicted)"
        case let .invalidLabel(label, sentence, word):
            "sentence \(sentence), word \(word): strict IOB2 evaluation expects labels O, B-<type> or I-<type>, found '\(label)'"
        }
    }
}

/// Entity-level scores over a corpus: micro-averaged and per type, as seqeval's `f1_score`,
/// `precision_score`, `recall_score` and `classification_report` give them.
public struct SeqevalReport: Sendable, Codable {
    public let mode: SeqevalMode
    /// Over all entities of all types.
    public let micro: SeqevalScore
    /// Every type that occurs in a gold or a predicted entity (support 0 when only predicted).
    public let perType: [String: SeqevalScore]
    public let counts: [String: EntityCounts]

    public init(mode: SeqevalMode, counts: [String: EntityCounts]) {
        self.mode = mode
        self.counts = counts
        micro = SeqevalScore(counts.values.reduce(EntityCounts(), +))
        perType = counts.mapValues(SeqevalScore.init)
    }

    /// Scores `predicted` against `gold`, sentence by sentence.
    /// - Parameters:
    ///   - gold: [sentences][words] reference labels.
    ///   - predicted: [sentences][words], the same shape as `gold`.
    public static func evaluate(gold: [[String]], predicted: [[String]], mode: SeqevalMode) throws(SeqevalError) -> SeqevalReport {
        guard gold.count == predicted.count else {
            throw .sentenceCountMismatch(gold: gold.count, predicted: predicted.count)
        }
        var accumulator = SeqevalAccumulator(mode: mode)
        for (gold, predicted) in zip(gold, predicted) { try accumulator.add(gold: gold, predicted: predicted) }
        return accumulator.report
    }
}

/// Counts entities one sentence at a time, so a corpus need not be held in memory.
public struct SeqevalAccumulator: Sendable {
    public let mode: SeqevalMode
    /// Sentences added so far.
    public private(set) var sentences = 0
    public private(set) var counts: [String: EntityCounts] = [:]

    public init(mode: SeqevalMode) { self.mode = mode }

    /// Adds one sentence; its entities can only match each other.
    public mutating func add(gold: [String], predicted: [String]) throws(SeqevalError) {
        guard gold.count == predicted.count else {
            throw .lengthMismatch(sentence: sentences, gold: gold.count, predicted: predicted.count)
        }
        if mode == .strict {
            for labels in [gold, predicted] {
                if let word = labels.firstIndex(where: { iob2Parts($0) == nil }) {
                    throw .invalidLabel(labels[word], sentence: sentences, word: word)
                }
            }
        }
        let goldChunks = Set(chunks(gold, mode: mode)), predictedChunks = Set(chunks(predicted, mode: mode))
        for chunk in goldChunks {
            counts[chunk.type, default: EntityCounts()].gold += 1
            if predictedChunks.contains(chunk) { counts[chunk.type, default: EntityCounts()].truePositives += 1 }
        }
        for chunk in predictedChunks { counts[chunk.type, default: EntityCounts()].predicted += 1 }
        sentences += 1
    }

    public var report: SeqevalReport { SeqevalReport(mode: mode, counts: counts) }
}
