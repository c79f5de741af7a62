import Annotation
import Foundation
import GRDB

/// What a search returns: the matching records (with the entities that matched the query's
/// entity terms) and facet counts over every entity of all matching records.
public struct SearchResult: Sendable, Codable {
    public struct Hit: Sendable, Codable {
        public var id: String
        /// The record's text (passages joined by newlines), for display.
        public var text: String
        public var matched: [Entity]
    }

    /// A facet value: an entity type; or, within a type, a concept (its id and name) or, for
    /// entities not linked, a normalized surface form.
    public struct Facet: Sendable, Codable, Equatable {
        public var value: String
        /// The concept's id, when the value is a concept's name.
        public var concept: String?
        public var records: Int

        public init(value: String, concept: String? = nil, records: Int) {
            self.value = value
            self.concept = concept
            self.records = records
        }
    }

    /// The newest run the answer draws from.
    public var run: CatalogRun
    /// Every run whose annotations answered: one pinned run, or by default the run of each
    /// record's latest annotation.
    public var runs: [Int64]
    public var total: Int
    public var hits: [Hit]
    /// Per entity type: how many matching records mention it.
    public var types: [Facet]
    /// Per entity type, its most frequent concepts (linked entities: "breast cancer", "breast
    /// cancers" and "BC" count once, as their concept) and surface forms (unlinked ones) among
    /// the matching records.
    public var values: [String: [Facet]]
}

extension SQLiteCatalog {
    /// Runs a parsed query over every record's latest annotation (the newest run that annotated
    /// it), or over one run when `run` is given.
    /// - Parameters:
    ///   - limit: most records returned (all are counted).
    ///   - facetLimit: most surface forms listed per type.
    public func search(_ query: SearchQuery, run runId: Int64? = nil, limit: Int = 20, facetLimit: Int = 10) throws(CatalogError) -> SearchResult {
        let runs = try runs()
        guard !runs.isEmpty else { throw .noRun(path: path) }
        if let runId, !runs.contains(where: { $0.id == runId }) {
            throw .database(path: path, reason: "no run \(runId) (runs: \(runs.map { String($0.id) }.joined(separator: ", ")))")
        }
        // `pair(record_id, run_id)`: the annotation each record is answered from.
        let pair = runId.map { "pair(record_id, run_id) AS (SELECT record_id, run_id FROM annotated WHERE run_id = \($0))" }
            ?? "pair(record_id, run_id) AS (SELECT record_id, MAX(run_id) FROM annotated GROUP BY record_id)"
        var arguments = StatementArguments()
        // Which of a record's entities count: the pinned run's, or those of its latest annotation.
        let entityRun = runId.map { "e.run_id = \($0)" } ?? "e.run_id = (SELECT MAX(a.run_id) FROM annotated a WHERE a.record_id = e.record_id)"
        let condition = Self.sql(query, entityRun: entityRun, arguments: &arguments)
        return try wrap {
            try database.read { db in
                // The matching records as common table expressions, their values bound before each query's own.
                let hit = "WITH \(pair), hit(id, run_id) AS (SELECT r.id, p.run_id FROM record r JOIN pair p ON p.record_id = r.id WHERE \(condition)) "
                let total = try Int.fetchOne(db, sql: hit + "SELECT COUNT(*) FROM hit", arguments: arguments) ?? 0
                let answering = try Int64.fetchAll(db, sql: hit + "SELECT DISTINCT run_id FROM hit ORDER BY run_id", arguments: arguments)
                var hits: [SearchResult.Hit] = []
                let terms = query.entityTerms
                for row in try Row.fetchAll(db, sql: hit + "SELECT r.id, r.key, r.passages, h.run_id FROM record r JOIN hit h ON h.id = r.id ORDER BY r.key LIMIT ?", arguments: arguments + [limit]) {
                    let passages = try Self.passages(fromJSON: row["passages"])
                    var matched: [Entity] = []
                    var document = Document(id: row["key"], passages: passages)
                    try Self.loadEntities(into: &document, record: row["id"], run: row["run_id"], db: db)
                    for entity in document.documentEntities {
                        let normalized = SearchQuery.normalize(entity.text), concepts = entity.concepts.map(\.id)
                        guard terms.contains(where: { term in
                            ([entity.type] + entity.otherTypes).contains { term.matches(type: $0, normalized: normalized, concepts: concepts) }
                        }) else { continue }
                        matched.append(entity)
                    }
                    hits.append(SearchResult.Hit(id: row["key"], text: passages.map(\.text).joined(separator: "\n"), matched: matched))
                }
                let types = try Row.fetchAll(db, sql: hit + """
                    SELECT e.type, COUNT(DISTINCT e.record_id) AS n FROM entity e JOIN hit h ON h.id = e.record_id AND h.run_id = e.run_id
                    GROUP BY e.type ORDER BY n DESC, e.type
                    """, arguments: arguments).map { SearchResult.Facet(value: $0["type"], records: $0["n"]) }
                var values: [String: [SearchResult.Facet]] = [:]
                for type in types {
                    // A linked entity counts as its concept (named by its most frequent name there),
                    // an unlinked one as its normalized text.
                    values[type.value] = try Row.fetchAll(db, sql: hit + """
                        SELECT c.concept_id AS concept, COALESCE(MIN(c.concept_name), e.normalized) AS value, COUNT(DISTINCT e.record_id) AS n
                        FROM entity e JOIN hit h ON h.id = e.record_id AND h.run_id = e.run_id LEFT JOIN entity_concept c ON c.entity_id = e.id
                        WHERE e.type = ? GROUP BY COALESCE('c' || c.concept_id, 't' || e.normalized) ORDER BY n DESC, value LIMIT ?
                        """, arguments: arguments + [type.value, facetLimit]).map { SearchResult.Facet(value: $0["value"], concept: $0["concept"], records: $0["n"]) }
                }
                let newest = runId.flatMap { id in runs.first { $0.id == id } } ?? runs.last { answering.contains($0.id) } ?? runs.last!
                return SearchResult(run: newest, runs: runId.map { [$0] } ?? answering, total: total, hits: hits, types: types, values: values)
            }
        }
    }

    /// The WHERE condition for a query over `record r`, values appended to `arguments`.
    /// - Parameter entityRun: the condition on `entity e` that picks the annotation answering.
    static func sql(_ query: SearchQuery, entityRun: String, arguments: inout StatementArguments) -> String {
        switch query {
        case let .entity(type, value, prefix):
            if prefix {
                arguments += [type, Self.likeEscaped(value) + "%"]
                return "r.id IN (SELECT e.record_id FROM entity e WHERE e.type = ? AND e.normalized LIKE ? ESCAPE '\\' AND \(entityRun))"
            }
            arguments += [type, value]
            return "r.id IN (SELECT e.record_id FROM entity e WHERE e.type = ? AND e.normalized = ? AND \(entityRun))"
        case let .concept(type, id):
            arguments += [id, type]
            return """
                r.id IN (SELECT e.record_id FROM entity_concept c JOIN entity e ON e.id = c.entity_id \
                WHERE c.concept_id = ? COLLATE NOCASE AND e.type = ? AND \(entityRun))
                """
        case let .text(value, prefix):
            // A quoted FTS5 phrase: the words of the value in order, operators taken literally.
            guard value.contains(where: { $0.isLetter || $0.isNumber }) else { return "0" }
            // Control characters (NUL ends FTS5's string early) separate words like spaces do.
            let words = String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
            arguments += ["\"" + words.replacingOccurrences(of: "\"", with: "\"\"") + "\"" + (prefix ? "*" : "")]
            return "r.id IN (SELECT rowid FROM record_text WHERE record_text MATCH ?)"
        case .and:
            return joined(query.operands(of: "AND"), with: "AND", entityRun: entityRun, arguments: &arguments)
        case .or:
            return joined(query.operands(of: "OR"), with: "OR", entityRun: entityRun, arguments: &arguments)
        case let .not(a):
            return "(NOT \(sql(a, entityRun: entityRun, arguments: &arguments)))"
        }
    }

    /// A flat list of terms under one operator, as a balanced tree of groups of at most eight:
    /// SQLite's parser overflows its stack on a few hundred nested parentheses and refuses
    /// expressions deeper than 1,000, which a left-nested chain of one pair per term reaches with
    /// the terms a 10,000-character query can hold; this nests log₈(terms) deep.
    static func joined(_ operands: [SearchQuery], with keyword: String, entityRun: String, arguments: inout StatementArguments) -> String {
        guard operands.count > 8 else {
            return "(" + operands.map { sql($0, entityRun: entityRun, arguments: &arguments) }.joined(separator: " \(keyword) ") + ")"
        }
        let size = (operands.count + 7) / 8
        return "(" + stride(from: 0, to: operands.count, by: size).map { start in
            joined(Array(operands[start..<min(start + size, operands.count)]), with: keyword, entityRun: entityRun, arguments: &arguments)
        }.joined(separator: " \(keyword) ") + ")"
    }

    static func likeEscaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
