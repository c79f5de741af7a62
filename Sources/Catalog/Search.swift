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

    public struct Facet: Sendable, Codable, Equatable {
        public var value: String
        public var records: Int

        public init(value: String, records: Int) {
            self.value = value
            self.records = records
        }
    }

    public var run: CatalogRun
    public var total: Int
    public var hits: [Hit]
    /// Per entity type: how many matching records mention it.
    public var types: [Facet]
    /// Per entity type, its most frequent normalized surface forms among the matching records.
    public var values: [String: [Facet]]
}

extension SQLiteCatalog {
    /// Runs a parsed query against one run (the latest when nil).
    /// - Parameters:
    ///   - limit: most records returned (all are counted).
    ///   - facetLimit: most surface forms listed per type.
    public func search(_ query: SearchQuery, run runId: Int64? = nil, limit: Int = 20, facetLimit: Int = 10) throws(CatalogError) -> SearchResult {
        let runs = try runs()
        guard let run = runId.flatMap({ id in runs.first { $0.id == id } }) ?? runs.last else { throw .noRun(path: path) }
        var arguments = StatementArguments()
        let condition = Self.sql(query, run: run.id, arguments: &arguments)
        return try wrap {
            try database.read { db in
                // The matching records as a common table expression, its values bound before each query's own.
                let hit = "WITH hit(id) AS (SELECT r.id FROM record r JOIN annotated a ON a.record_id = r.id AND a.run_id = \(run.id) WHERE \(condition)) "
                let total = try Int.fetchOne(db, sql: hit + "SELECT COUNT(*) FROM hit", arguments: arguments) ?? 0
                var hits: [SearchResult.Hit] = []
                let terms = query.entityTerms
                for row in try Row.fetchAll(db, sql: hit + "SELECT r.id, r.key, r.passages FROM record r JOIN hit h ON h.id = r.id ORDER BY r.key LIMIT ?", arguments: arguments + [limit]) {
                    let passages = try Self.passages(fromJSON: row["passages"])
                    var matched: [Entity] = []
                    for entity in try Row.fetchAll(db, sql: "SELECT passage, type, start, \"end\", text, normalized, score FROM entity WHERE record_id = ? AND run_id = ? ORDER BY passage, start",
                                                   arguments: [row["id"] as Int64, run.id]) {
                        let type: String = entity["type"], normalized: String = entity["normalized"]
                        guard terms.contains(where: { $0.type == type && ($0.prefix ? normalized.hasPrefix($0.value) : normalized == $0.value) }) else { continue }
                        let passage: Int = entity["passage"]
                        let shift = passages.indices.contains(passage) ? passages[passage].offset : 0
                        matched.append(Entity(type: type, start: entity["start"], end: entity["end"], text: entity["text"], score: entity["score"]).shifted(by: shift))
                    }
                    hits.append(SearchResult.Hit(id: row["key"], text: passages.map(\.text).joined(separator: "\n"), matched: matched))
                }
                let types = try Row.fetchAll(db, sql: hit + """
                    SELECT e.type, COUNT(DISTINCT e.record_id) AS n FROM entity e JOIN hit h ON h.id = e.record_id
                    WHERE e.run_id = ? GROUP BY e.type ORDER BY n DESC, e.type
                    """, arguments: arguments + [run.id]).map { SearchResult.Facet(value: $0["type"], records: $0["n"]) }
                var values: [String: [SearchResult.Facet]] = [:]
                for type in types {
                    values[type.value] = try Row.fetchAll(db, sql: hit + """
                        SELECT e.normalized, COUNT(DISTINCT e.record_id) AS n FROM entity e JOIN hit h ON h.id = e.record_id
                        WHERE e.run_id = ? AND e.type = ? GROUP BY e.normalized ORDER BY n DESC, e.normalized LIMIT ?
                        """, arguments: arguments + [run.id, type.value, facetLimit]).map { SearchResult.Facet(value: $0["normalized"], records: $0["n"]) }
                }
                return SearchResult(run: run, total: total, hits: hits, types: types, values: values)
            }
        }
    }

    /// The WHERE condition for a query over `record r`, values appended to `arguments`.
    static func sql(_ query: SearchQuery, run: Int64, arguments: inout StatementArguments) -> String {
        switch query {
        case let .entity(type, value, prefix):
            if prefix {
                arguments += [run, type, Self.likeEscaped(value) + "%"]
                return "r.id IN (SELECT record_id FROM entity WHERE run_id = ? AND type = ? AND normalized LIKE ? ESCAPE '\\')"
            }
            arguments += [run, type, value]
            return "r.id IN (SELECT record_id FROM entity WHERE run_id = ? AND type = ? AND normalized = ?)"
        case let .text(value, prefix):
            // A quoted FTS5 phrase: the words of the value in order, operators taken literally.
            guard value.contains(where: { $0.isLetter || $0.isNumber }) else { return "0" }
            // Control characters (NUL ends FTS5's string early) separate words like spaces do.
            let words = String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
            arguments += ["\"" + words.replacingOccurrences(of: "\"", with: "\"\"") + "\"" + (prefix ? "*" : "")]
            return "r.id IN (SELECT rowid FROM record_text WHERE record_text MATCH ?)"
        case let .and(a, b):
            return "(\(sql(a, run: run, arguments: &arguments)) AND \(sql(b, run: run, arguments: &arguments)))"
        case let .or(a, b):
            return "(\(sql(a, run: run, arguments: &arguments)) OR \(sql(b, run: run, arguments: &arguments)))"
        case let .not(a):
            return "(NOT \(sql(a, run: run, arguments: &arguments)))"
        }
    }

    static func likeEscaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
