import Annotation
import Catalog
import Foundation
import Models
import GRDB
import Testing


/// A document with entities placed on the given words of its text.
private func document(_ id: String, _ text: String, _ entities: [(String, String)]) -> Document {
    var passage = Passage(text: text)
    for (type, words) in entities {
        let scalars = Array(text.unicodeScalars), target = Array(words.unicodeScalars)
        guard let start = (0...(scalars.count - target.count)).first(where: { Array(scalars[$0..<($0 + target.count)]) == target }) else { continue }
        passage.entities.append(Entity(type: type, start: start, end: start + target.count, text: words, score: 0.9))
    }
    return Document(id: id, passages: [passage])
}

private let records = [
    document("r1", "Breast cancer metastasis to the liver treated with tamoxifen.", [("disease", "Breast cancer"), ("anatomy", "liver"), ("chemical", "tamoxifen")]),
    document("r2", "Liver fibrosis in mice fed 50% fat_diet.", [("disease", "Liver fibrosis"), ("anatomy", "Liver"), ("species", "mice")]),
    document("r3", "BREAST  CANCER cohort; no liver samples \"OR\" AND NOT.", [("disease", "BREAST  CANCER"), ("anatomy", "liver")]),
    document("r4", "Lung adenocarcinoma cells (A549) exposed to cisplatin.", [("disease", "Lung adenocarcinoma"), ("chemical", "cisplatin")]),
]

@Suite struct CatalogTests {
    let model = ModelIdentity(name: "m", version: "1")

    @Test(arguments: StoreKind.available) func rerunningChangesNothingAndNewVersionsAddRuns(kind: StoreKind) throws {
        let store = try kind.make()
        let run = try store.run(model: model, tasks: ["disease"], settings: "{}")
        #expect(try store.needsAnnotation(records, run: run) == [true, true, true, true])
        try store.store(records, run: run)
        #expect(try store.needsAnnotation(records, run: run) == [false, false, false, false])
        try store.store(records, run: run)  // stored twice: still one copy
        #expect(try store.run(model: model, tasks: ["disease"], settings: "{}") == run)
        #expect(try store.runs().map(\.entities) == [10])
        #expect(try store.document(key: "r1", run: run) == records[0])

        let newer = try store.run(model: ModelIdentity(name: "m", version: "2"), tasks: ["disease"], settings: "{}")
        #expect(newer != run)
        #expect(try store.needsAnnotation(records, run: newer) == [true, true, true, true])
        try store.store(Array(records.prefix(2)), run: newer)
        #expect(try store.runs().map(\.entities) == [10, 6])

        // A changed text invalidates every run's entities of that record.
        var changed = records[0]
        changed.passages[0].text += " Updated."
        #expect(try store.needsAnnotation([changed], run: run) == [true])
        try store.store([changed], run: run)
        #expect(try store.runs().map(\.records) == [4, 1])
    }

    @Test(arguments: StoreKind.available) func searchMatchesEntitiesAndTextWithFacets(kind: StoreKind) throws {
        let store = try kind.make()
        let run = try store.run(model: model, tasks: [], settings: "{}")
        try store.store(records, run: run)
        func ids(_ query: String) throws -> [String] { try store.search(SearchQuery.parse(query)).hits.map(\.id) }
        #expect(try ids(#"disease:"breast cancer" AND anatomy:liver"#) == ["r1", "r3"])
        #expect(try ids(#"disease:"breast cancer" anatomy:liver NOT chemical:tamoxifen"#) == ["r3"])
        #expect(try ids("chemical:cisplatin OR species:mice") == ["r2", "r4"])
        #expect(try ids("disease:lung*") == ["r4"])
        #expect(try ids("fibrosis") == ["r2"])
        #expect(try ids(#"(liver OR lung) AND NOT "breast cancer""#) == ["r2", "r4"])
        #expect(try ids("adenocarcin*") == ["r4"])
        // Operators, quotes and LIKE wildcards inside values mean themselves.
        #expect(try ids(#"text:"OR" AND text:"NOT""#) == ["r3"])
        #expect(try ids("disease:%") == [])
        #expect(try ids("disease:_iver*") == [])
        #expect(try ids("fat_diet") == ["r2"])
        #expect(try ids(#""50%""#) == ["r2"])
        #expect(try ids("\"\\\"\"") == [])
        let result = try store.search(SearchQuery.parse("anatomy:liver"))
        #expect(result.total == 3 && result.types.first == SearchResult.Facet(value: "anatomy", records: 3))
        #expect(result.values["disease"]?.first == SearchResult.Facet(value: "breast cancer", records: 2))
        #expect(result.hits.first?.matched.map(\.text) == ["liver"])
    }

    @Test func malformedQueriesAreErrorsWithTheirPlace() {
        for (query, position) in [("", 0), ("disease:", 0), ("(liver", 0), ("liver)", 5), ("\"open", 0), ("AND liver", 0), ("liver OR", 8), ("disease:\"\"", 8)] {
            #expect(throws: SearchQueryError.self, "\(query)") { try SearchQuery.parse(query) }
            do { _ = try SearchQuery.parse(query) } catch { #expect(error.position == position, "\(query): \(error)") }
        }
        #expect(throws: SearchQueryError.self) { try SearchQuery.parse(String(repeating: "(", count: 100) + "x" + String(repeating: ")", count: 100)) }
        #expect(throws: SearchQueryError.self) { try SearchQuery.parse(String(repeating: "liver ", count: 2000)) }
        #expect(throws: Never.self) { try SearchQuery.parse(String(repeating: "liver ", count: 1000)) }
    }

    /// Random queries of tricky pieces either parse and run without a database error, or are
    /// refused with a position inside the query: never a crash, never SQL built from values.
    @Test(arguments: StoreKind.available) func randomQueriesParseAndRunOrAreRefused(kind: StoreKind) throws {
        let store = try kind.make()
        let run = try store.run(model: model, tasks: [], settings: "{}")
        try store.store(records, run: run)
        let pieces = ["disease:", "anatomy:", "text:", "\"", "\"breast cancer\"", "liver", "(", ")", "AND", "OR", "NOT", "NEAR", "*", "%", "_", "'",
                      "';DROP TABLE record;--", "\\", "^", ":", "-", "ä", "😀", "lung*", "\u{0}", "  ", "\n", "x:y:z", "gene:BRCA1", "{", "}"]
        var generator = SplitMix64(seed: 99)
        var parsed = 0
        for _ in 0..<2000 {
            let count = Int(generator.next() % 8) + 1
            let query = (0..<count).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined(separator: generator.next() % 3 == 0 ? "" : " ")
            do {
                let parsedQuery = try SearchQuery.parse(query)
                parsed += 1
                _ = try store.search(parsedQuery)
            } catch let error as SearchQueryError {
                #expect(error.position >= 0 && error.position <= query.count, "\(query): \(error)")
            }
        }
        #expect(parsed > 200)
        #expect(try store.runs().first?.records == 4)
    }

    /// The same records in both catalogs answer every query alike: records, counts, matched
    /// entities and facets (random queries of the same tricky pieces, plus the linked ones).
    @Test(.enabled(if: StoreKind.postgresURL != nil, "needs BIOTAG_TEST_POSTGRES"))
    func sqliteAndPostgresAnswerAlike() throws {
        let stores: [any AnnotationCatalog] = [try StoreKind.sqlite.make(), try StoreKind.postgres.make()]
        for store in stores {
            let run = try store.run(model: model, tasks: [], settings: "{}")
            try store.store(records + ConceptSearchTests.records(), run: run)
        }
        let pieces = ["disease:", "anatomy:", "chemical:", "text:", "\"", "\"breast cancer\"", "liver", "Liver", "(", ")", "AND", "OR", "NOT", "*", "%", "_",
                      "lung*", "ä", "😀", "\u{0}", "disease:MESH:D001943", "cell:CL:0000182", "fat_diet", "50%", "br*", "mice", "cisplatin", "cancer"]
        var generator = SplitMix64(seed: 7)
        var compared = 0
        for _ in 0..<600 {
            let count = Int(generator.next() % 6) + 1
            let text = (0..<count).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined(separator: generator.next() % 3 == 0 ? "" : " ")
            guard let query = try? SearchQuery.parse(text) else { continue }
            let answers = try stores.map { try $0.search(query, limit: 50, facetLimit: 50) }
            #expect(answers[0].total == answers[1].total, "\(text)")
            #expect(answers[0].hits.map(\.id) == answers[1].hits.map(\.id), "\(text)")
            #expect(answers[0].hits.map(\.matched) == answers[1].hits.map(\.matched), "\(text)")
            #expect(answers[0].types == answers[1].types && answers[0].values == answers[1].values, "\(text)")
            compared += answers[0].total > 0 ? 1 : 0
        }
        #expect(compared > 50)
    }

    /// A real list of gene names joined by OR (or AND), up to the query length cap: one flat
    /// list, answered like the same terms one by one, never "parser stack overflow".
    @Test(arguments: StoreKind.available) func longFlatListsOfTermsWork(kind: StoreKind) throws {
        let store = try kind.make()
        let run = try store.run(model: model, tasks: [], settings: "{}")
        try store.store(records, run: run)
        let genes = (0..<76).map { "GENE\($0)" }
        let orList = (genes + ["tamoxifen"]).map { "chemical:\($0)" }.joined(separator: " OR ")
        #expect(try store.search(try SearchQuery.parse(orList)).hits.map(\.id) == ["r1"])
        // As many terms as 10,000 characters hold, of every kind, both ways.
        var terms: [String] = ["chemical:cisplatin"]
        while true {
            let next = ["g\(terms.count)", "disease:x\(terms.count)", "\"p \(terms.count)\""][terms.count % 3]
            guard (terms + [next]).joined(separator: " OR ").count <= SearchQuery.maximumLength else { break }
            terms.append(next)
        }
        let longest = terms.joined(separator: " OR ")
        #expect(longest.count <= SearchQuery.maximumLength)
        #expect(try store.search(try SearchQuery.parse(longest)).hits.map(\.id) == ["r4"])
        let all = ["liver"] + (0..<900).map { _ in "liver" }
        #expect(try store.search(try SearchQuery.parse(all.joined(separator: " AND "))).total == 3)
        #expect(try store.search(try SearchQuery.parse("(" + all.joined(separator: " ") + ") AND NOT mice")).total == 2)
    }

    /// What SQLite says reaches the user; the statement never does.
    @Test func databaseErrorsNeverShowSQL() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-catalog-\(UUID().uuidString).db").path
        let store = try SQLiteCatalog(path: path)
        let run = try store.run(model: model, tasks: [], settings: "{}")
        try store.store(records, run: run)
        // A catalog whose search index was dropped behind its back.
        try DatabaseQueue(path: path).write { try $0.execute(sql: "DROP TABLE record_text") }
        do {
            _ = try store.search(try SearchQuery.parse("fibrosis"))
            Issue.record("a search on a broken catalog succeeded")
        } catch {
            #expect("\(error)".contains("SQLite error"), "\(error)")
            #expect(!"\(error)".contains("SELECT") && !"\(error)".contains("MATCH"), "\(error)")
        }
    }

    /// A record added by a later run does not hide the others: search answers from each
    /// record's latest annotation unless a run is pinned.
    @Test(arguments: StoreKind.available) func searchAnswersFromEachRecordsLatestAnnotation(kind: StoreKind) throws {
        let store = try kind.make()
        let first = try store.run(model: model, tasks: [], settings: "{}")
        try store.store(records, run: first)
        let second = try store.run(model: model, tasks: [], settings: "{\"other\":1}")
        let added = document("r5", "Mice and rats with liver injury.", [("species", "Mice"), ("anatomy", "liver")])
        try store.store([added], run: second)
        let mice = try store.search(try SearchQuery.parse("species:mice"))
        #expect(mice.hits.map(\.id) == ["r2", "r5"])
        #expect(mice.runs == [first, second] && mice.run.id == second)
        #expect(try store.search(try SearchQuery.parse("anatomy:liver")).total == 4)
        #expect(try store.search(try SearchQuery.parse("anatomy:liver"), run: second).hits.map(\.id) == ["r5"])
        #expect(try store.search(try SearchQuery.parse("anatomy:liver"), run: first).total == 3)
        // A record annotated again by the later run answers from it alone.
        var again = records[0]
        again.passages[0].entities = []
        try store.store([again], run: second)
        #expect(try store.search(try SearchQuery.parse("chemical:tamoxifen")).total == 0)
        #expect(try store.search(try SearchQuery.parse("chemical:tamoxifen"), run: first).total == 1)
        let facets = try store.search(try SearchQuery.parse("liver"))
        #expect(facets.types.first { $0.value == "anatomy" }?.records == 3)
    }
}
