import Foundation
import Tensors

/// One candidate concept for a mention.
public struct LinkCandidate: Sendable, Equatable {
    public let id: String
    public let name: String
    /// 1 for an exact match of a normalized term; the cosine similarity of character 3-grams
    /// otherwise.
    public let score: Float
    public let stage: LinkStage
    /// Index into the index's concepts.
    public let concept: Int
}

/// Which step of the linker proposed a candidate.
public enum LinkStage: String, Sendable, Codable, CaseIterable {
    /// A dictionary term equal to the mention once normalized (case, punctuation, plural, order).
    case exact
    /// The same, after a short form was replaced by the long form the document defines (or an
    /// abbreviated binomial, `P. aeruginosa`, by the name the document writes out).
    case abbreviation
    /// A coordination split into the mentions it abbreviates ("breast and ovarian cancer" →
    /// "breast cancer", "ovarian cancer"), each found by exact lookup.
    case composite
    /// Character 3-gram TF-IDF similarity.
    case ngram
    /// The cosine of an encoder's embeddings of the mention and of the dictionary's terms; where
    /// a linker has it, it replaces the 3-gram stage (better on NCBI-disease devel: 88.69 against
    /// 86.02 acc@1, docs/LINKING.md).
    case dense
}

/// A linker's dense stage: its dictionary's terms embedded, and the encoder that embeds mentions.
public struct DenseStage: Sendable {
    public let terms: DenseTerms
    public let encoder: TermEncoder
    /// Splits the search's matrix products, one caller at a time.
    public let search: SerialPool

    public init(terms: DenseTerms, encoder: TermEncoder, search: SerialPool) {
        self.terms = terms
        self.encoder = encoder
        self.search = search
    }

    /// The `top` best concepts of each text, or nil when the encoder failed.
    func candidates(_ texts: [String], top: Int) -> [[(concept: Int, score: Float)]]? {
        guard !texts.isEmpty, let vectors = try? encoder.embed(texts) else { return texts.isEmpty ? [] : nil }
        return search.run { runner in try? terms.best(top, of: vectors, runner: runner) }
    }
}

/// A `GemmRunner` that serves one caller at a time (its pool splits one operation; two callers
/// at once would mix their work).
public final class SerialPool: @unchecked Sendable {
    private let runner: GemmRunner?
    private let lock = NSLock()

    /// Without a runner (oneDNN refused to make one) searches run `dnnl_sgemm` instead.
    public init(threads: Int) { runner = try? GemmRunner(pool: SpinPool(threads: threads)) }

    public func run<T>(_ body: (GemmRunner?) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(runner)
    }
}

/// Links mentions of one entity type to the concepts of its index: normalized exact lookup,
/// abbreviations resolved within the document, composite mentions split, then character 3-gram
/// TF-IDF candidates. The answer depends on the mention, its document and the index only (ties
/// broken by the dictionary's order), so the same input always gives the same ids.
public struct Linker: Sendable {
    public let index: LinkerIndex
    /// Which stages run (all by default), for measuring each one's gain.
    public let stages: Set<LinkStage>
    public let dense: DenseStage?

    public init(index: LinkerIndex, stages: Set<LinkStage> = Set(LinkStage.allCases), dense: DenseStage? = nil) {
        self.index = index
        self.stages = stages
        self.dense = dense
    }

    /// Whether near matches come from the dense stage (else from 3-grams).
    public var usesDense: Bool { dense != nil && stages.contains(.dense) }

    /// The same linker without its near-match stages (3-grams and dense).
    public var exactOnly: Linker { Linker(index: index, stages: stages.subtracting([.ngram, .dense]), dense: nil) }

    /// Compiles the dictionary in memory (`LinkerIndexBuilder`); the same index a file holds.
    public init(dictionary: ConceptDictionary, stages: Set<LinkStage> = Set(LinkStage.allCases)) throws(LinkerIndexError) {
        self.init(index: try LinkerIndex(bytes: LinkerIndexBuilder.build(dictionary), source: dictionary.source), stages: stages)
    }

    /// Mentions longer than this are not linked (no concept name is this long).
    public static let maximumMentionLength = 1_000

    /// The concepts a mention names: one ranked list of candidates per concept, best first, so
    /// a composite mention ("breast and ovarian cancer") gives one list per part. Empty when
    /// nothing in the index resembles the mention.
    /// - Parameter abbreviations: the mention's document's abbreviations (`Abbreviations(text:)`).
    public func link(_ mention: String, abbreviations: Abbreviations = Abbreviations(), top: Int = 5) -> [[LinkCandidate]] {
        guard top > 0, mention.unicodeScalars.count <= Self.maximumMentionLength else { return [] }
        let whole = linkWhole(mention, abbreviations: abbreviations, top: top)
        if whole.first.map({ $0.stage == .exact || $0.stage == .abbreviation }) == true { return [whole] }
        if stages.contains(.composite), let parts = composite(mention, abbreviations: abbreviations, top: top) { return parts }
        return whole.isEmpty ? [] : [whole]
    }

    /// The best `top` concepts for the mention taken as one concept, best first.
    public func linkWhole(_ mention: String, abbreviations: Abbreviations = Abbreviations(), top: Int = 5) -> [LinkCandidate] {
        guard top > 0, mention.unicodeScalars.count <= Self.maximumMentionLength else { return [] }
        var result: [LinkCandidate] = []
        func add(_ concept: Int, _ stage: LinkStage, score: Float) {
            guard result.count < top, !result.contains(where: { $0.concept == concept }) else { return }
            let record = index.concept(concept)
            result.append(LinkCandidate(id: record.id, name: record.name, score: score, stage: stage, concept: concept))
        }
        var text = mention
        if stages.contains(.exact) { index.exactConcepts(key: TermNormalizer.key(mention)).forEach { add($0, .exact, score: 1) } }
        if stages.contains(.abbreviation), let long = abbreviations.expansion(of: mention) {
            text = long
            if result.isEmpty { index.exactConcepts(key: TermNormalizer.key(long)).forEach { add($0, .abbreviation, score: 1) } }
        }
        if result.count < top {
            // Dense when the linker has it (a failing encoder leaves the 3-gram answer), else 3-grams.
            if usesDense, let found = dense!.candidates([text], top: top)?.first {
                for candidate in found { add(candidate.concept, .dense, score: candidate.score) }
            } else if stages.contains(.ngram) {
                for candidate in index.similarConcepts(text, count: top) { add(candidate.concept, .ngram, score: candidate.score) }
            }
        }
        return result
    }

    /// Dense candidates for many texts at once (one encoder pass, one matrix product per 64):
    /// what `DocumentLinker` uses for the mentions no exact stage links. Nil without a dense
    /// stage or when the encoder failed.
    public func denseCandidates(_ texts: [String], top: Int) -> [[LinkCandidate]]? {
        guard usesDense, let found = dense!.candidates(texts, top: top) else { return nil }
        return found.map { list in
            list.map { candidate in
                let record = index.concept(candidate.concept)
                return LinkCandidate(id: record.id, name: record.name, score: candidate.score, stage: .dense, concept: candidate.concept)
            }
        }
    }

    /// The parts of a coordination when each names a concept exactly and they are not all one.
    private func composite(_ mention: String, abbreviations: Abbreviations, top: Int) -> [[LinkCandidate]]? {
        reading: for parts in CompositeMention.readings(of: mention) {
            var lists: [[LinkCandidate]] = []
            for part in parts {
                let candidates = index.exactConcepts(key: TermNormalizer.key(part)).prefix(top).map { concept in
                    let record = index.concept(concept)
                    return LinkCandidate(id: record.id, name: record.name, score: 1, stage: .composite, concept: concept)
                }
                guard !candidates.isEmpty else { continue reading }
                if !lists.contains(where: { $0[0].concept == candidates[0].concept }) { lists.append(candidates) }
            }
            if lists.count >= 2 { return lists }
        }
        return nil
    }
}

/// Coordinated mentions that share words: "breast and ovarian cancer", "colorectal, endometrial,
/// and ovarian cancers", "type 1 and type 2 diabetes", "Duchenne/Becker muscular dystrophy" share
/// their last words; "colorectal adenomas and carcinoma", "spinocerebellar ataxias 1 and 2" their
/// first.
enum CompositeMention {
    /// The ways to read a coordination as several mentions, the shared-ending reading first;
    /// `[]` when it is not one. A conjunct shorter than the last borrows the last one's words past
    /// its own length ("type 1" + "type 2 diabetes" → "type 1 diabetes"); a conjunct shorter than
    /// the first borrows the first one's leading words ("colorectal adenomas" + "carcinoma" →
    /// "colorectal carcinoma").
    static func readings(of mention: String) -> [[String]] {
        var text = " " + mention.split(whereSeparator: \.isWhitespace).joined(separator: " ") + " "
        for separator in [", and/or ", ", and ", ", or ", " and/or ", " and ", " or ", ", ", "/"] {
            text = text.replacingOccurrences(of: separator, with: "\u{1F}")
        }
        let conjuncts = text.split(separator: "\u{1F}").map { $0.split(separator: " ").map(String.init) }.filter { !$0.isEmpty }
        guard conjuncts.count >= 2, conjuncts.count <= 8, let first = conjuncts.first, let last = conjuncts.last else { return [] }
        var readings: [[String]] = []
        if last.count >= 2 {
            readings.append(conjuncts.map { words in
                (words.count < last.count ? words + last[words.count...] : words).joined(separator: " ")
            })
        }
        if first.count >= 2 {
            readings.append(conjuncts.map { words in
                (words.count < first.count ? first[..<(first.count - words.count)] + words : words).joined(separator: " ")
            })
        }
        return readings
    }
}
