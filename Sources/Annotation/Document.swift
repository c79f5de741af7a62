import Foundation

/// One record to annotate: an id and one or more passages (a plain text or a single JSON field is
/// one passage; title and abstract are two).
///
/// Offsets are Unicode scalar indices. A passage's `offset` places it in the document (BioC's
/// passage offset; for title + abstract, the abstract starts at `title.count + 1`, as PubTator
/// counts), so a document-level offset is `passage.offset + entity.start`.
public struct Document: Sendable, Equatable {
    public var id: String
    public var passages: [Passage]
    /// Key-value metadata carried through (BioC `infon`s of the document).
    public var infons: [String: String]
    /// Relations between the document's concepts (PubTator's `CID` lines).
    public var relations: [Relation]

    public init(id: String, passages: [Passage], infons: [String: String] = [:], relations: [Relation] = []) {
        self.id = id
        self.passages = passages
        self.infons = infons
        self.relations = relations
    }

    /// A document of one passage at offset 0.
    public init(id: String, text: String) {
        self.init(id: id, passages: [Passage(text: text)])
    }

    /// Every entity of every passage, with offsets into the whole document.
    public var documentEntities: [Entity] {
        passages.flatMap { passage in passage.entities.map { $0.shifted(by: passage.offset) } }
    }
}

public struct Passage: Sendable, Equatable {
    public var text: String
    /// Where the passage starts in its document, in Unicode scalars.
    public var offset: Int
    /// Key-value metadata (BioC `infon`s: `type` = title, abstract, ...; the JSON field name).
    public var infons: [String: String]
    /// Entities found in this passage, offsets relative to `text`. Input formats that carry
    /// annotations fill them; the annotator replaces them with the model's.
    public var entities: [Entity]

    /// A record's text fields as passages, in order, each after the one before it and a
    /// separator (JSON lines' `--text-fields`, the service's `text_fields`).
    public static func fields(_ fields: [(name: String, text: String)]) -> [Passage] {
        var passages: [Passage] = []
        for (name, text) in fields {
            let offset = passages.last.map { $0.offset + $0.length + 1 } ?? 0
            passages.append(Passage(text: text, offset: offset, infons: ["field": name]))
        }
        return passages
    }

    public init(text: String, offset: Int = 0, infons: [String: String] = [:], entities: [Entity] = []) {
        self.text = text
        self.offset = offset
        self.infons = infons
        self.entities = entities
    }

    /// The text's length in Unicode scalars, the unit of every offset.
    public var length: Int { text.unicodeScalars.count }
}

/// One mention found by a head: `text` is exactly the passage's scalars `start..<end`.
public struct Entity: Sendable, Equatable, Hashable, Codable {
    /// The task (head) that found it: `disease`, `chemical`, ...
    public var type: String
    public var start: Int
    public var end: Int
    public var text: String
    /// The model's confidence: the mean over the entity's words of each word's probability for
    /// the label it got. 1 for annotations read from input files that carry none.
    public var score: Double
    /// The ontology concepts it names, once linked: one, or one per part of a composite mention
    /// ("breast and ovarian cancer"); empty when not linked or nothing matched.
    public var concepts: [ConceptReference]
    /// Other heads that found the same span and linked it to the same concept (`cell_type`
    /// beside `cell` for "hepatocytes"): one thing, reported once.
    public var otherTypes: [String]

    public init(type: String, start: Int, end: Int, text: String, score: Double = 1, concepts: [ConceptReference] = [], otherTypes: [String] = []) {
        self.type = type
        self.start = start
        self.end = end
        self.text = text
        self.score = score
        self.concepts = concepts
        self.otherTypes = otherTypes
    }

    public func shifted(by delta: Int) -> Entity {
        var copy = self
        copy.start += delta
        copy.end += delta
        return copy
    }
}

/// A relation between concepts of one document, as BioCreative V's chemical-induced disease
/// task defines it: document level, between concept ids (not mentions), its arguments in
/// order with their roles (`chemical`, then `disease`, for `CID`).
public struct Relation: Sendable, Equatable, Hashable, Codable {
    public var type: String
    public var arguments: [Argument]
    /// How sure the relation head was (1 for a relation read from a file).
    public var score: Double

    public struct Argument: Sendable, Equatable, Hashable, Codable {
        public var role: String
        public var concept: String

        public init(role: String, concept: String) {
            self.role = role
            self.concept = concept
        }
    }

    public init(type: String, arguments: [Argument], score: Double = 1) {
        self.type = type
        self.arguments = arguments
        self.score = score
    }

    /// Whether two concept ids name the same concept: MeSH ids with or without `MESH:`
    /// (PubTator's relation lines write them bare, biotag's linkers with the prefix).
    public static func sameConcept(_ a: String, _ b: String) -> Bool {
        func bare(_ id: String) -> Substring { id.hasPrefix("MESH:") ? id.dropFirst(5) : Substring(id) }
        return bare(a) == bare(b)
    }

    /// The argument roles of a relation type, in order (`CID`: chemical, disease).
    public static func roles(of type: String, count: Int) -> [String] {
        type == "CID" && count == 2 ? ["chemical", "disease"] : (1...max(1, count)).map { "arg\($0)" }
    }
}

/// A concept an entity was linked to: its id (`MESH:D001943`, `NCBITaxon:9606`), preferred
/// name, and how sure the linker was (1 for an exact match of a dictionary term, the
/// similarity otherwise).
public struct ConceptReference: Sendable, Equatable, Hashable, Codable {
    public var id: String
    public var name: String
    public var score: Double

    public init(id: String, name: String, score: Double = 1) {
        self.id = id
        self.name = name
        self.score = score
    }
}

/// The model that produced a set of annotations: its name and version, as output formats record
/// them, and a fingerprint of its weights file, by which the catalog tells apart two copies that
/// carry the same version but not the same weights.
public struct ModelIdentity: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var version: String
    /// `fnv1a64:` + the FNV-1a hash of `model.safetensors`; nil until someone needs it (the
    /// catalog does, to tell runs apart).
    public var weights: String?

    public init(name: String, version: String, weights: String? = nil) {
        self.name = name
        self.version = version
        self.weights = weights
    }
}

extension String {
    /// The Unicode scalars `range` of the string (offsets as everywhere in biotag).
    public func scalarSlice(_ range: Range<Int>) -> String {
        let scalars = unicodeScalars
        let start = scalars.index(scalars.startIndex, offsetBy: range.lowerBound)
        let end = scalars.index(start, offsetBy: range.count)
        return String(scalars[start..<end])
    }
}
