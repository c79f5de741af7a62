import Foundation

// Shared by the BioC XML and BioC JSON codecs. biotag reads and writes BioC offsets as Unicode
// scalar indices (what Python counts); BioC leaves the unit to the collection, so the writers
// say so in the collection infon `offset_unit` = `unicode_scalar` and the key file `biotag.key`.

/// A BioC document as read, before offsets are checked.
struct BioCRawDocument {
    var id: String?
    var infons: [String: String] = [:]
    var passages: [BioCRawPassage] = []
    /// The infons of each document-level `relation`.
    var relations: [[String: String]] = []
    /// Why the document cannot be used (a non-numeric passage offset ...), if it cannot.
    var problem: String?

    /// The document, or a reject located at `location` when it has no id or a problem.
    func item(location: String) -> ReadItem {
        let id = id.flatMap { $0.isEmpty ? nil : $0 }
        if let problem { return .rejected(Reject(id: id, location: location, reason: problem)) }
        if let negative = passages.first(where: { $0.offset < 0 }) {
            return .rejected(Reject(id: id, location: location, reason: "passage offset \(negative.offset) is negative"))
        }
        guard let id else { return .rejected(Reject(location: location, reason: "document without an id")) }
        return .document(Document(id: id, passages: passages.map(\.passage), infons: infons, relations: relations.compactMap(Self.relation)))
    }

    /// A relation between concepts from its infons: the type (`type`, or BC5CDR's `relation`),
    /// `score`, and one infon per argument named by its role (`chemical` and `disease` for CID,
    /// any case, as biotag writes them and as the BC5CDR BioC files do); nil without a type or an
    /// argument.
    static func relation(_ infons: [String: String]) -> Relation? {
        guard let type = infons["type"] ?? infons["relation"] else { return nil }
        let byRole = Dictionary(infons.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let others = infons.keys.filter { !["type", "relation", "score"].contains($0) }.sorted()
        let roles = type == "CID" ? Relation.roles(of: type, count: 2) : others
        let arguments = roles.compactMap { role in byRole[role.lowercased()].map { Relation.Argument(role: role, concept: $0) } }
        guard !arguments.isEmpty, arguments.count == roles.count else { return nil }
        return Relation(type: type, arguments: arguments, score: infons["score"].flatMap(Double.init) ?? 1)
    }
}

/// A BioC passage as read: its text, or sentences to rebuild it from, and annotations whose
/// locations are document offsets.
struct BioCRawPassage {
    var offset = 0
    var infons: [String: String] = [:]
    var text: String?
    var sentences: [(offset: Int, text: String)] = []
    var annotations: [BioCRawAnnotation] = []

    /// The passage, its offset kept as given. Without a passage `text` the sentences are placed
    /// at their offsets, gaps filled with spaces. An annotation becomes an entity of type
    /// infon `type` spanning its locations (several locations: from the first start to the last
    /// end), its text the passage's scalars there, its score infon `score` (else 1), its concepts
    /// infon `identifier` (`;`-separated, names from `concept_name`);
    /// annotations without a type or outside the passage are skipped.
    var passage: Passage {
        let text = self.text ?? sentenceText
        let scalars = Array(text.unicodeScalars)
        var entities: [Entity] = []
        for annotation in annotations {
            guard let type = annotation.infons["type"],
                  let first = annotation.locations.map(\.offset).min(),
                  let last = annotation.locations.map({ $0.offset + $0.length }).max() else { continue }
            let start = first - offset, end = last - offset
            guard start >= 0, start < end, end <= scalars.count else { continue }
            var slice = String.UnicodeScalarView()
            slice.append(contentsOf: scalars[start..<end])
            let score = annotation.infons["score"].flatMap(Double.init) ?? 1
            let ids = annotation.infons["identifier"].map { $0.split(separator: ";").map(String.init).filter { !$0.isEmpty && $0 != "-" } } ?? []
            let names = annotation.infons["concept_name"].map { $0.split(separator: ";", omittingEmptySubsequences: false).map(String.init) } ?? []
            let concepts = ids.enumerated().map { ConceptReference(id: $1, name: $0 < names.count ? names[$0] : "") }
            entities.append(Entity(type: type, start: start, end: end, text: String(slice), score: score, concepts: concepts))
        }
        return Passage(text: text, offset: offset, infons: infons, entities: entities)
    }

    private var sentenceText: String {
        var text = String.UnicodeScalarView()
        var length = 0
        for sentence in sentences where sentence.offset - offset >= length {
            let gap = sentence.offset - offset - length
            text.append(contentsOf: repeatElement(" ", count: gap))
            text.append(contentsOf: sentence.text.unicodeScalars)
            length += gap + sentence.text.unicodeScalars.count
        }
        return String(text)
    }
}

struct BioCRawAnnotation {
    var infons: [String: String] = [:]
    var locations: [(offset: Int, length: Int)] = []
}

/// One annotation as the writers emit it.
struct BioCAnnotationOut {
    var id: String
    var infons: [String: String]
    /// Document offset and length in Unicode scalars.
    var offset: Int
    var length: Int
    var text: String

    /// The passage's entities as annotations `T<n>` (`counter` runs over the document) with
    /// infons type, score (4 decimals) and annotator (`name version`); a linked entity adds
    /// `identifier` (its concept ids joined by `;`, as PubTator writes them), `concept_name` and
    /// `concept_score`, and one found by several heads `types` (joined by `;`).
    static func of(_ passage: Passage, model: ModelIdentity, counter: inout Int) -> [BioCAnnotationOut] {
        passage.entities.map { entity in
            counter += 1
            var infons = ["type": entity.type, "score": roundedScore(entity.score), "annotator": "\(model.name) \(model.version)"]
            if !entity.concepts.isEmpty {
                infons["identifier"] = entity.concepts.map(\.id).joined(separator: ";")
                infons["concept_name"] = entity.concepts.map(\.name).joined(separator: ";")
                infons["concept_score"] = entity.concepts.map { roundedScore($0.score) }.joined(separator: ";")
            }
            if !entity.otherTypes.isEmpty { infons["types"] = ([entity.type] + entity.otherTypes).joined(separator: ";") }
            return BioCAnnotationOut(
                id: "T\(counter)",
                infons: infons,
                offset: passage.offset + entity.start, length: entity.end - entity.start, text: entity.text)
        }
    }
}

/// A document-level relation as a BioC `relation`: `R<n>`, infons `type`, `score` and one per
/// argument (role → concept id), and one node per annotation of an argument's concept (its role,
/// the annotation's id), so a reader can go from the relation to every mention of its concepts.
struct BioCRelationOut {
    var id: String
    var infons: [String: String]
    var nodes: [(refid: String, role: String)]

    static func of(_ document: Document, annotations: [BioCAnnotationOut]) -> [BioCRelationOut] {
        document.relations.enumerated().map { index, relation in
            var infons = ["type": relation.type, "score": roundedScore(relation.score)]
            var nodes: [(refid: String, role: String)] = []
            for argument in relation.arguments {
                infons[argument.role] = argument.concept
                for annotation in annotations {
                    let ids = annotation.infons["identifier"]?.split(separator: ";").map(String.init) ?? []
                    if ids.contains(where: { Relation.sameConcept($0, argument.concept) }) { nodes.append((annotation.id, argument.role)) }
                }
            }
            return BioCRelationOut(id: "R\(index + 1)", infons: infons, nodes: nodes)
        }
    }
}

/// The collection header values the BioC writers use.
enum BioCCollection {
    static let source = "biotag"
    static let key = "biotag.key"
    static let infons = ["offset_unit": "unicode_scalar"]

    /// Today as `yyyymmdd` (UTC).
    static var date: String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: Date())
        let (year, month, day) = (parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        return String(format: "%04d%02d%02d", year, month, day)
    }
}
