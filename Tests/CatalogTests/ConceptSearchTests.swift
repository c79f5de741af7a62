import Annotation
import Catalog
import Foundation
import Models
import Testing

/// The catalog by concept: stored concept ids, TYPE:ID terms, linked values, facets that count
/// concepts, merged entities under each type, and re-linking without the model.
@Suite struct ConceptSearchTests {
    static let breast = ConceptReference(id: "MESH:D001943", name: "Breast Neoplasms")

    static func entity(_ type: String, _ text: String, in passage: String, concepts: [ConceptReference] = [], otherTypes: [String] = []) -> Entity {
        let range = passage.range(of: text)!
        let start = passage.unicodeScalars.distance(from: passage.unicodeScalars.startIndex, to: range.lowerBound)
        return Entity(type: type, start: start, end: start + text.unicodeScalars.count, text: text, score: 0.9, concepts: concepts, otherTypes: otherTypes)
    }

    static func records() -> [Document] {
        let a = "Breast cancer in women; hepatocytes damaged.", b = "Breast cancers and BC relapse.", c = "Breast and ovarian cancer families."
        return [
            Document(id: "a", passages: [Passage(text: a, entities: [
                entity("disease", "Breast cancer", in: a, concepts: [breast]),
                entity("cell_type", "hepatocytes", in: a, concepts: [ConceptReference(id: "CL:0000182", name: "hepatocyte")], otherTypes: ["cell"]),
            ])]),
            Document(id: "b", passages: [Passage(text: b, entities: [
                entity("disease", "Breast cancers", in: b, concepts: [breast]), entity("disease", "BC", in: b, concepts: [breast]),
            ])]),
            Document(id: "c", passages: [Passage(text: c, entities: [
                entity("disease", "Breast and ovarian cancer", in: c, concepts: [breast, ConceptReference(id: "MESH:D010051", name: "Ovarian Neoplasms")]),
            ])]),
        ]
    }

    static func store(_ kind: StoreKind) throws -> (any AnnotationCatalog, Int64) {
        let store = try kind.make()
        let run = try store.run(model: ModelIdentity(name: "m", version: "1"), tasks: [], settings: "{}")
        try store.store(records(), run: run, linkers: "v1")
        return (store, run)
    }

    @Test(arguments: StoreKind.available) func conceptsRoundTripAndMatch(kind: StoreKind) throws {
        let (store, run) = try Self.store(kind)
        #expect(try store.document(key: "a", run: run) == Self.records()[0])
        #expect(try store.document(key: "c", run: run) == Self.records()[2])
        func ids(_ query: String) throws -> [String] { try store.search(SearchQuery.parse(query)).hits.map(\.id) }
        #expect(try ids("disease:MESH:D001943") == ["a", "b", "c"])
        #expect(try ids("disease:mesh:d010051") == ["c"])  // ids compared without case
        #expect(try ids("disease:MESH:D001943 AND NOT disease:MESH:D010051") == ["a", "b"])
        #expect(try ids("chemical:MESH:D001943") == [])  // another type
        // A merged entity answers to each of its types.
        #expect(try ids("cell:CL:0000182") == ["a"] && ids("cell_type:hepatocytes") == ["a"] && ids("cell:hepatocytes") == ["a"])
        // The literal text alone misses "BC"; linked to its concept, the value finds every record.
        let literal = try SearchQuery.parse(#"disease:"breast carcinoma""#)
        #expect(try store.search(literal).hits.isEmpty)
        let linked = literal.linked { type, value in type == "disease" && value == "breast carcinoma" ? "MESH:D001943" : nil }
        #expect(try store.search(linked).hits.map(\.id) == ["a", "b", "c"])
        #expect(try store.search(linked).hits.first { $0.id == "b" }?.matched.map(\.text) == ["Breast cancers", "BC"])
    }

    @Test(arguments: StoreKind.available) func facetsCountConcepts(kind: StoreKind) throws {
        let (store, _) = try Self.store(kind)
        let result = try store.search(SearchQuery.parse("disease:MESH:D001943"))
        // "Breast cancer", "Breast cancers", "BC" and the composite mention: one concept, three records.
        #expect(result.values["disease"]?.first == SearchResult.Facet(value: "Breast Neoplasms", concept: "MESH:D001943", records: 3))
        #expect(result.values["disease"]?.contains(SearchResult.Facet(value: "Ovarian Neoplasms", concept: "MESH:D010051", records: 1)) == true)
        #expect(result.types.contains(SearchResult.Facet(value: "cell", records: 1)))
    }

    @Test(arguments: StoreKind.available) func relinkReplacesConceptsWithoutTheModel(kind: StoreKind) throws {
        let (store, run) = try Self.store(kind)
        var seen: [String] = []
        let count = try store.relink(linkers: "v2") { documents in
            seen += documents.map(\.id)
            // Entities come back one per type, without concepts; the new linker names every
            // disease "Neoplasms".
            #expect(documents.allSatisfy { $0.documentEntities.allSatisfy { $0.concepts.isEmpty && $0.otherTypes.isEmpty } })
            return documents.map { document in
                var copy = document
                for p in copy.passages.indices {
                    for e in copy.passages[p].entities.indices where copy.passages[p].entities[e].type == "disease" {
                        copy.passages[p].entities[e].concepts = [ConceptReference(id: "MESH:D009369", name: "Neoplasms")]
                    }
                }
                return copy
            }
        }
        #expect(count == 3 && seen == ["a", "b", "c"])
        #expect(try store.search(SearchQuery.parse("disease:MESH:D009369")).total == 3)
        #expect(try store.search(SearchQuery.parse("disease:MESH:D001943")).total == 0)
        #expect(try store.document(key: "a", run: run)?.documentEntities.filter { $0.type != "disease" }.count == 2)  // cell and cell_type, unmerged now
        #expect(try store.relink(linkers: "v2") { _ in Issue.record("nothing is left to relink"); return [] } == 0)
    }

    @Test func conceptIdsParseAsOneValue() throws {
        #expect(try SearchQuery.parse("disease:MESH:D001943") == .concept(type: "disease", id: "MESH:D001943"))
        #expect(try SearchQuery.parse("species:NCBITaxon:9606 OR gene:BRCA1") == .or(.concept(type: "species", id: "NCBITaxon:9606"), .entity(type: "gene", value: "brca1", prefix: false)))
        #expect(try SearchQuery.parse(#"disease:"MESH:D001943""#) == .concept(type: "disease", id: "MESH:D001943"))
        #expect(try SearchQuery.parse("disease:MESH:D00*") == .entity(type: "disease", value: "mesh:d00", prefix: true))
        #expect(try SearchQuery.parse("disease:covid-19 anatomy:lung") == .and(.entity(type: "disease", value: "covid-19", prefix: false), .entity(type: "anatomy", value: "lung", prefix: false)))
    }
}
