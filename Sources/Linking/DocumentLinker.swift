import Annotation
import Models
import Synchronization

/// Links every entity of annotated documents with the linker of its head: the mention, with the
/// abbreviations its document defines, becomes the concepts it names (one, or one per part of
/// a composite mention). Entities of heads without a linker stay as they are. Then a span that
/// two heads found and linked to the same concepts becomes one entity, the higher-scoring head's,
/// with the other head in `otherTypes`.
public struct DocumentLinker: EntityLinking {
    public let linkers: LinkerSet
    /// A 3-gram candidate less similar than this is not reported (exact matches always are): a
    /// wrong concept costs a curator more than a missing one.
    public let minimumScore: Float
    /// The same for a dense stage's cosines.
    public let denseMinimumScore: Float
    /// Documents linked at once.
    public let workers: Int
    /// What each head's mentions linked to, shared by every document: a mention's answer depends
    /// on its document only when the document defines it as an abbreviation, and those are not
    /// kept. Collections repeat their mentions ("patients", "cisplatin"), so most are found here.
    private let memory = LinkMemory()

    /// Chosen on NCBI-disease devel, end to end: document-level concept F1 73.41 at 0, 78.87 at
    /// 0.75, 80.14 at 0.8, 79.48 at 0.85, 78.94 at 1 (docs/LINKING.md).
    public static let defaultMinimumScore: Float = 0.8

    /// Chosen on NCBI-disease devel, end to end, with all-MiniLM-L6-v2 as the dense encoder:
    /// F1 74.06 at 0, 79.19 at 0.75, 78.88 at 0.8, 79.65 at 0.85, 80.07 at 0.9, 78.94 at 1.
    public static let defaultDenseMinimumScore: Float = 0.9

    public init(linkers: LinkerSet, minimumScore: Float = defaultMinimumScore, denseMinimumScore: Float = defaultDenseMinimumScore, workers: Int = 1) {
        self.linkers = linkers
        self.minimumScore = minimumScore
        self.denseMinimumScore = denseMinimumScore
        self.workers = workers
    }

    /// Whether a candidate is reported: exact matches always, near matches at or above their
    /// stage's threshold.
    public func accepts(_ candidate: LinkCandidate) -> Bool {
        switch candidate.stage {
        case .ngram: candidate.score >= minimumScore
        case .dense: candidate.score >= denseMinimumScore
        case .exact, .abbreviation, .composite: true
        }
    }

    public func link(_ documents: [Document]) -> [Document] {
        // An entity with several types (the overlap rule's "one span, one answer") is linked once
        // per type, then becomes one again under the first type that found a concept.
        var owners: [[[Int]]] = []
        var byType = documents
        for d in byType.indices {
            owners.append([])
            for p in byType[d].passages.indices {
                let (entities, owner) = Self.splitByType(byType[d].passages[p].entities)
                byType[d].passages[p].entities = entities
                owners[d].append(owner)
            }
        }
        let split = byType
        // Every entity from memory or the stages before the dense one; mentions a dense linker
        // must rank wait, and are embedded together, a pass per head.
        let prepared = Batcher.concurrentMap(split.count, parts: workers) { prepare(split[$0]) }
        var pending: [String: [String: (query: String, local: Bool)]] = [:]  // head → key → query
        for (_, waiting) in prepared { for item in waiting { pending[item.type, default: [:]][item.key] = (item.query, item.local) } }
        var answers: [String: [ConceptReference]] = [:]
        for (type, queries) in pending.sorted(by: { $0.key < $1.key }) {
            let keys = queries.keys.sorted(), linker = linkers.linkers[type]!
            let found = linker.denseCandidates(keys.map { queries[$0]!.query }, top: 1)
            for (position, key) in keys.enumerated() {
                // A failing encoder falls back to the 3-gram answer, mention by mention.
                let candidates = found?[position] ?? linker.linkWhole(queries[key]!.query, top: 1).filter { $0.stage == .ngram }
                let concepts = candidates.filter(accepts).map { ConceptReference(id: $0.id, name: $0.name, score: Double($0.score)) }
                answers[key] = concepts
                if !queries[key]!.local { memory.remember(key, concepts) }
            }
        }
        return prepared.enumerated().map { d, prepared in
            var result = prepared.0
            for item in prepared.1 { result.passages[item.passage].entities[item.entity].concepts = answers[item.key] ?? [] }
            for p in result.passages.indices {
                result.passages[p].entities = Self.merged(Self.joined(result.passages[p].entities, owners: owners[d][p]))
            }
            return result
        }
    }

    /// Each entity once per type (its own, then `otherTypes`), and the index of the entity each
    /// came from.
    static func splitByType(_ entities: [Entity]) -> (entities: [Entity], owners: [Int]) {
        var result: [Entity] = [], owners: [Int] = []
        for (index, entity) in entities.enumerated() {
            for type in [entity.type] + entity.otherTypes {
                var single = entity
                single.type = type
                single.otherTypes = []
                result.append(single)
                owners.append(index)
            }
        }
        return (result, owners)
    }

    /// The entities of `splitByType` one again: the first type whose linker found a concept comes
    /// first and gives the concepts ("mitochondrial": anatomy found nothing in UBERON, the
    /// cellular-component linker found GO:0005739), the others follow in their order.
    static func joined(_ entities: [Entity], owners: [Int]) -> [Entity] {
        var result: [Entity] = []
        var start = 0
        while start < entities.count {
            var end = start + 1
            while end < entities.count, owners[end] == owners[start] { end += 1 }
            let group = entities[start..<end]
            var primary = group.first { !$0.concepts.isEmpty } ?? group.first!
            primary.otherTypes = group.map(\.type).filter { $0 != primary.type }
            result.append(primary)
            start = end
        }
        return result
    }

    /// A mention a dense linker still has to rank.
    private struct Waiting: Sendable {
        let passage: Int, entity: Int
        let type: String, key: String, query: String
        /// Its answer depends on its document (an abbreviation it defines): not remembered.
        let local: Bool
    }

    /// The document with every entity linked that needs no dense ranking, and those that do.
    private func prepare(_ document: Document) -> (Document, [Waiting]) {
        let abbreviations = Abbreviations(text: document.passages.map(\.text).joined(separator: "\n"))
        var found: [String: [ConceptReference]] = [:]  // the same mention of the same head, once per document
        var waiting: [Waiting] = []
        var result = document
        for p in result.passages.indices {
            for e in result.passages[p].entities.indices {
                let entity = result.passages[p].entities[e]
                guard let linker = linkers.linkers[entity.type] else { continue }
                let local = abbreviations.expansion(of: entity.text) != nil
                let key = entity.type + "\t" + (local ? document.id + "\t" : "") + entity.text
                if let known = found[key] ?? (local ? nil : memory.concepts(key)) {
                    found[key] = known
                    result.passages[p].entities[e].concepts = known
                    continue
                }
                let parts = (linker.usesDense ? linker.exactOnly : linker).link(entity.text, abbreviations: abbreviations, top: 1)
                if parts.isEmpty, linker.usesDense {
                    waiting.append(Waiting(passage: p, entity: e, type: entity.type, key: key, query: abbreviations.expansion(of: entity.text) ?? entity.text, local: local))
                    continue
                }
                let concepts = parts.compactMap(\.first).filter(accepts)
                    .map { ConceptReference(id: $0.id, name: $0.name, score: Double($0.score)) }
                found[key] = concepts
                if !local { memory.remember(key, concepts) }
                result.passages[p].entities[e].concepts = concepts
            }
        }
        return (result, waiting)
    }

    /// Entities of one span with the same concepts, one per span: the best-scoring head's (ties:
    /// the first in order), the others' types noted on it. Order is kept.
    static func merged(_ entities: [Entity]) -> [Entity] {
        var kept: [Entity] = []
        var place: [String: Int] = [:]
        for entity in entities {
            guard !entity.concepts.isEmpty else { kept.append(entity); continue }
            let key = "\(entity.start):\(entity.end):" + entity.concepts.map(\.id).joined(separator: "|")
            guard let index = place[key] else {
                place[key] = kept.count
                kept.append(entity)
                continue
            }
            var primary = kept[index], other = entity
            if other.score > primary.score { swap(&primary, &other) }
            var seen: Set = [primary.type]
            primary.otherTypes = (primary.otherTypes + [other.type] + other.otherTypes).filter { seen.insert($0).inserted }
            kept[index] = primary
        }
        return kept
    }
}

/// The answers of `DocumentLinker` by head and mention, up to a bound (then forgotten at once and
/// filled again): memory stays flat however long a job runs.
final class LinkMemory: Sendable {
    static let capacity = 200_000
    private let answers = Mutex<[String: [ConceptReference]]>([:])

    func concepts(_ key: String) -> [ConceptReference]? { answers.withLock { $0[key] } }

    func remember(_ key: String, _ concepts: [ConceptReference]) {
        answers.withLock { answers in
            if answers.count >= Self.capacity { answers.removeAll(keepingCapacity: true) }
            answers[key] = concepts
        }
    }
}
