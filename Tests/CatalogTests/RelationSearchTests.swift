import Annotation
import Catalog
import Foundation
import Models
import Testing

/// The catalog's relations: stored with a record's annotation, read back, found by
/// `relation:TYPE(role:value, ...)` with values as concept ids, mentions or concept names.
@Suite struct RelationSearchTests {
    static let cisplatin = ConceptReference(id: "MESH:D002945", name: "Cisplatin")
    static let injury = ConceptReference(id: "MESH:D058186", name: "Acute Kidney Injury")
    static let lithium = ConceptReference(id: "MESH:D008094", name: "Lithium")
    static let tremor = ConceptReference(id: "MESH:D014202", name: "Tremor")

    static func cid(_ chemical: ConceptReference, _ disease: ConceptReference, score: Double = 0.9) -> Relation {
        Relation(type: "CID", arguments: [.init(role: "chemical", concept: chemical.id), .init(role: "disease", concept: disease.id)], score: score)
    }

    static func records() -> [Document] {
        let a = "Cisplatin caused kidney injury.", b = "Lithium and tremor; cisplatin was stopped.", c = "Kidney injury without cisplatin."
        func entity(_ type: String, _ text: String, in passage: String, _ concept: ConceptReference) -> Entity {
            ConceptSearchTests.entity(type, text, in: passage, concepts: [concept])
        }
        return [
            Document(id: "a", passages: [Passage(text: a, entities: [entity("chemical", "Cisplatin", in: a, cisplatin), entity("disease", "kidney injury", in: a, injury)])],
                     relations: [cid(cisplatin, injury)]),
            Document(id: "b", passages: [Passage(text: b, entities: [entity("chemical", "Lithium", in: b, lithium), entity("disease", "tremor", in: b, tremor),
                                                                      entity("chemical", "cisplatin", in: b, cisplatin)])],
                     relations: [cid(lithium, tremor, score: 0.75)]),
            Document(id: "c", passages: [Passage(text: c, entities: [entity("disease", "Kidney injury", in: c, injury), entity("chemical", "cisplatin", in: c, cisplatin)])]),
        ]
    }

    @Test(arguments: StoreKind.available) func storedAndFound(kind: StoreKind) throws {
        let store = try kind.make()
        let run = try store.run(model: ModelIdentity(name: "m", version: "1"), tasks: [], settings: "{}")
        try store.store(Self.records(), run: run, linkers: "v1")
        #expect(try store.document(key: "a", run: run) == Self.records()[0])
        #expect(try store.document(key: "b", run: run)?.relations == [Self.cid(Self.lithium, Self.tremor, score: 0.75)])
        func ids(_ query: String) throws -> [String] { try store.search(SearchQuery.parse(query)).hits.map(\.id) }
        #expect(try ids("relation:CID") == ["a", "b"])
        #expect(try ids(#"relation:CID(chemical:cisplatin, disease:"kidney injury")"#) == ["a"])
        #expect(try ids("relation:CID(disease:mesh:d014202)") == ["b"])  // an id, without case
        #expect(try ids(#"relation:CID(disease:"acute kidney injury")"#) == ["a"])  // the concept's name
        #expect(try ids("relation:CID(chemical:cisplatin)") == ["a"])  // b names cisplatin, but not in a relation
        #expect(try ids("relation:CID(disease:cisplatin)") == [])  // the wrong role
        #expect(try ids("relation:XYZ") == [])
        #expect(try ids("chemical:cisplatin AND NOT relation:CID(chemical:cisplatin)") == ["b", "c"])
        // A new annotation of a record replaces its relations.
        var again = Self.records()[0]
        again.relations = []
        try store.store([again], run: run, linkers: "v1")
        #expect(try ids("relation:CID") == ["b"])
        // Re-linking without the encoder drops the relations found between the old concepts.
        #expect(try store.relink(linkers: "v2", link: { $0 }) == 3)
        #expect(try ids("relation:CID") == [])
    }

    /// A malformed relation term is a parse error that says where and what.
    @Test func malformedRelationTerms() throws {
        for (query, position, message) in [
            ("relation:CID(chemical:cisplatin,disease:x)", 22, "put a space after the comma"),
            ("relation:CID(chemical:cisplatin", 12, "never closed"),
            (#"relation:"a b""#, 9, "needs a relation type"),
            ("relation:CID(cisplatin)", 13, "a relation's arguments are role:value"),
            ("relation:CID(chemical:)", 22, "needs a word or a quoted phrase"),
        ] {
            #expect(throws: SearchQueryError.self, "\(query)") { try SearchQuery.parse(query) }
            do { _ = try SearchQuery.parse(query) } catch {
                #expect(error.position == position && error.message.contains(message), "\(query): \(error)")
            }
        }
        #expect(try SearchQuery.parse("relation:CID(chemical:MESH:D002945 disease:\"kidney injury\")")
            == .relation(type: "CID", arguments: [RelationTerm(role: "chemical", value: .concept("MESH:D002945")), RelationTerm(role: "disease", value: .text("kidney injury"))]))
    }
}
