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
    /// Documents linked at once.
    public let workers: Int
    /// What each head's mentions linked to, shared by every document: a mention's answer depends
    /// on its document only when the document defines it as an abbreviation, and those are not
    /// kept. Collections repeat their mentions ("patients", "cisplatin"), so most are found here.
    private let memory = LinkMemory()

    /// Chosen on NCBI-disease devel, end to end: document-level concept F1 73.41 at 0, 78.87 at
    /// 0.75, 80.14 at 0.8, 79.48 at 0.85, 78.94 at 1 (docs/LINKING.md).
    public static let defaultMinimumScore: Float = 0.8

    public init(linkers: LinkerSet, minimumScore: Float = defaultMinimumScore, workers: Int = 1) {
        self.linkers = linkers
        self.minimumScore = minimumScore
        self.workers = workers
    }

    public func link(_ documents: [Document]) -> [Document] {
        Batcher.concurrentMap(documents.count, parts: workers) { link(documents[$0]) }
    }

    public func link(_ document: Document) -> Document {
        let abbreviations = Abbreviations(text: document.passages.map(\.text).joined(separator: "\n"))
        var found: [String: [ConceptReference]] = [:]  // the same mention of the same head, once per document
        var result = document
        for p in result.passages.indices {
            for e in result.passages[p].entities.indices {
                let entity = result.passages[p].entities[e]
                guard let linker = linkers.linkers[entity.type] else { continue }
                let key = entity.type + "\t" + entity.text
                if found[key] == nil {
                    let local = abbreviations.expansion(of: entity.text) != nil
                    if !local, let known = memory.concepts(key) {
                        found[key] = known
                    } else {
                        let concepts = linker.link(entity.text, abbreviations: abbreviations, top: 1).compactMap(\.first)
                            .filter { $0.stage != .ngram || $0.score >= minimumScore }
                            .map { ConceptReference(id: $0.id, name: $0.name, score: Double($0.score)) }
                        found[key] = concepts
                        if !local { memory.remember(key, concepts) }
                    }
                }
                result.passages[p].entities[e].concepts = found[key]!
            }
            result.passages[p].entities = Self.merged(result.passages[p].entities)
        }
        return result
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
