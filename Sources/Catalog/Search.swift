import Annotation
import Foundation

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

/// A statement being written for one dialect: each bound value gets its placeholder (`?` for
/// SQLite, `$n` for PostgreSQL), in order.
struct SQLBuilder {
    let dialect: SQLDialect
    private(set) var values: [SQLValue] = []
    /// PostgreSQL: each term's records as a hashed subplan computed once, instead of a semi-join
    /// the planner may reorder. A query of hundreds of terms joined by AND would otherwise be
    /// hundreds of joins to order (minutes of planning); a few terms plan best as joins.
    var termsAsSubplans = false

    init(dialect: SQLDialect) { self.dialect = dialect }

    /// A term's condition, as a subplan when `termsAsSubplans` (IS TRUE keeps the planner from
    /// turning it into a join, and means the same: a record id is never NULL).
    func term(_ condition: String) -> String { termsAsSubplans ? "(\(condition)) IS TRUE" : condition }

    mutating func bind(_ value: SQLValue) -> String {
        values.append(value)
        return dialect == .sqlite ? "?" : "$\(values.count)"
    }
}

extension AnnotationCatalog {
    /// Runs a parsed query over every record's latest annotation (the newest run that annotated
    /// it), or over one run when `run` is given.
    /// - Parameters:
    ///   - limit: most records returned (all are counted).
    ///   - facetLimit: most surface forms listed per type.
    public func search(_ query: SearchQuery, run runId: Int64? = nil, limit: Int = 20, facetLimit: Int = 10) throws(CatalogError) -> SearchResult {
        let runs = try runs()
        guard !runs.isEmpty else { throw .noRun(path: location) }
        if let runId, !runs.contains(where: { $0.id == runId }) {
            throw .database(path: location, reason: "no run \(runId) (runs: \(runs.map { String($0.id) }.joined(separator: ", ")))")
        }
        // `pair(record_id, run_id)`: the annotation each record is answered from.
        let pair = runId.map { "pair(record_id, run_id) AS (SELECT record_id, run_id FROM annotated WHERE run_id = \($0))" }
            ?? "pair(record_id, run_id) AS (SELECT record_id, MAX(run_id) FROM annotated GROUP BY record_id)"
        // Which of a record's entities count: the pinned run's, or those of its latest annotation.
        let entityRun = runId.map { "e.run_id = \($0)" } ?? "e.run_id = (SELECT MAX(a.run_id) FROM annotated a WHERE a.record_id = e.record_id)"
        return try read { c in
            var base = SQLBuilder(dialect: c.dialect)
            base.termsAsSubplans = c.dialect == .postgres && query.termCount > 8
            let condition = Self.sql(query, entityRun: entityRun, builder: &base)
            // (PostgreSQL's text columns are declared COLLATE "C": keys and values sort bytewise, as in SQLite.)
            // The matching records as common table expressions, their values bound before each query's own.
            let hit = "WITH \(pair), hit(id, run_id) AS (SELECT r.id, p.run_id FROM record r JOIN pair p ON p.record_id = r.id WHERE \(condition)) "
            let total = try c.row(hit + "SELECT COUNT(*) AS n FROM hit", base.values)?.int("n") ?? 0
            let answering = try c.rows(hit + "SELECT DISTINCT run_id FROM hit ORDER BY run_id", base.values).map { try $0.int64("run_id") }
            var hits: [SearchResult.Hit] = []
            let terms = query.entityTerms
            var listing = base
            for row in try c.rows(hit + "SELECT r.id, r.key, r.passages, h.run_id FROM record r JOIN hit h ON h.id = r.id ORDER BY r.key LIMIT \(listing.bind(.integer(Int64(limit))))", listing.values) {
                let passages = try Self.passages(fromJSON: try row.text("passages"))
                var matched: [Entity] = []
                var document = Document(id: try row.text("key"), passages: passages)
                try Self.loadEntities(into: &document, record: try row.int64("id"), run: try row.int64("run_id"), c)
                for entity in document.documentEntities {
                    let normalized = SearchQuery.normalize(entity.text), concepts = entity.concepts.map(\.id)
                    guard terms.contains(where: { term in
                        ([entity.type] + entity.otherTypes).contains { term.matches(type: $0, normalized: normalized, concepts: concepts) }
                    }) else { continue }
                    matched.append(entity)
                }
                hits.append(SearchResult.Hit(id: document.id, text: passages.map(\.text).joined(separator: "\n"), matched: matched))
            }
            let types = try c.rows(hit + """
                SELECT e.type, COUNT(DISTINCT e.record_id) AS n FROM entity e JOIN hit h ON h.id = e.record_id AND h.run_id = e.run_id
                GROUP BY e.type ORDER BY n DESC, e.type
                """, base.values).map { SearchResult.Facet(value: try $0.text("type"), records: try $0.int("n")) }
            var values: [String: [SearchResult.Facet]] = [:]
            for type in types {
                // A linked entity counts as its concept (named by its most frequent name there),
                // an unlinked one as its normalized text.
                var facet = base
                let typeValue = facet.bind(.text(type.value)), limitValue = facet.bind(.integer(Int64(facetLimit)))
                values[type.value] = try c.rows(hit + """
                    SELECT MIN(c.concept_id) AS concept, COALESCE(MIN(c.concept_name), MIN(e.normalized)) AS value, COUNT(DISTINCT e.record_id) AS n
                    FROM entity e JOIN hit h ON h.id = e.record_id AND h.run_id = e.run_id LEFT JOIN entity_concept c ON c.entity_id = e.id
                    WHERE e.type = \(typeValue) GROUP BY COALESCE('c' || c.concept_id, 't' || e.normalized) ORDER BY n DESC, value LIMIT \(limitValue)
                    """, facet.values).map { SearchResult.Facet(value: try $0.text("value"), concept: try $0.optionalText("concept"), records: try $0.int("n")) }
            }
            let newest = runId.flatMap { id in runs.first { $0.id == id } } ?? runs.last { answering.contains($0.id) } ?? runs.last!
            return SearchResult(run: newest, runs: runId.map { [$0] } ?? answering, total: total, hits: hits, types: types, values: values)
        }
    }

    /// The WHERE condition for a query over `record r`, its values bound in `builder`.
    /// - Parameter entityRun: the condition on `entity e` that picks the annotation answering.
    static func sql(_ query: SearchQuery, entityRun: String, builder: inout SQLBuilder) -> String {
        switch query {
        case let .entity(type, value, prefix):
            if prefix {
                return builder.term("r.id IN (SELECT e.record_id FROM entity e WHERE e.type = \(builder.bind(.text(type))) AND e.normalized LIKE \(builder.bind(.text(likeEscaped(value) + "%"))) ESCAPE '\\' AND \(entityRun))")
            }
            return builder.term("r.id IN (SELECT e.record_id FROM entity e WHERE e.type = \(builder.bind(.text(type))) AND e.normalized = \(builder.bind(.text(value))) AND \(entityRun))")
        case let .concept(type, id):
            // Ids compare without case (ASCII, as SQLite's NOCASE does), each database through its own index.
            let match = builder.dialect == .sqlite ? "c.concept_id = \(builder.bind(.text(id))) COLLATE NOCASE" : "lower(c.concept_id) = lower(\(builder.bind(.text(id))))"
            return builder.term("r.id IN (SELECT e.record_id FROM entity_concept c JOIN entity e ON e.id = c.entity_id WHERE \(match) AND e.type = \(builder.bind(.text(type))) AND \(entityRun))")
        case let .text(value, prefix):
            let words = SearchWords.of(value)
            guard !words.isEmpty else { return "1 = 0" }
            switch builder.dialect {
            case .sqlite:
                // A quoted FTS5 phrase: the words of the value in order, operators taken literally.
                return "r.id IN (SELECT rowid FROM record_text WHERE record_text MATCH \(builder.bind(.text("\"" + words.joined(separator: " ") + "\"" + (prefix ? "*" : "")))))"
            case .postgres:
                // The same phrase as a tsquery over the same words: each a quoted lexeme (letters and digits only), in order.
                let phrase = words.map { "'\($0)'" }.joined(separator: " <-> ") + (prefix ? ":*" : "")
                return builder.term("r.id IN (SELECT record_id FROM record_text WHERE document @@ to_tsquery('simple', \(builder.bind(.text(phrase)))))")
            }
        case let .relation(type, arguments):
            // A relation row `e` of the answering annotation; each argument matches its role's
            // concept by id (without case) or by a mention of that concept in the record or its name.
            var conditions = ["e.type = \(builder.bind(.text(type)))"]
            for argument in arguments {
                let sides = ["first", "second"].map { side in
                    let role = "e.\(side)_role = \(builder.bind(.text(argument.role)))"
                    switch argument.value {
                    case let .concept(id):
                        return "(\(role) AND lower(e.\(side)_concept) = lower(\(builder.bind(.text(id)))))"
                    case let .text(value):
                        let mention = builder.bind(.text(value)), name = builder.bind(.text(value))
                        return """
                            (\(role) AND e.\(side)_concept IN (SELECT c.concept_id FROM entity x JOIN entity_concept c ON c.entity_id = x.id \
                            WHERE x.record_id = e.record_id AND x.run_id = e.run_id AND (x.normalized = \(mention) OR lower(c.concept_name) = \(name))))
                            """
                    }
                }
                conditions.append("(" + sides.joined(separator: " OR ") + ")")
            }
            return builder.term("r.id IN (SELECT e.record_id FROM relation e WHERE \(conditions.joined(separator: " AND ")) AND \(entityRun))")
        case .and:
            return joined(query.operands(of: "AND"), with: "AND", entityRun: entityRun, builder: &builder)
        case .or:
            return joined(query.operands(of: "OR"), with: "OR", entityRun: entityRun, builder: &builder)
        case let .not(a):
            return "(NOT \(sql(a, entityRun: entityRun, builder: &builder)))"
        }
    }

    /// A flat list of terms under one operator, as a balanced tree of groups of at most eight:
    /// SQLite's parser overflows its stack on a few hundred nested parentheses and refuses
    /// expressions deeper than 1,000, which a left-nested chain of one pair per term reaches with
    /// the terms a 10,000-character query can hold; this nests log₈(terms) deep.
    static func joined(_ operands: [SearchQuery], with keyword: String, entityRun: String, builder: inout SQLBuilder) -> String {
        guard operands.count > 8 else {
            return "(" + operands.map { sql($0, entityRun: entityRun, builder: &builder) }.joined(separator: " \(keyword) ") + ")"
        }
        let size = (operands.count + 7) / 8
        return "(" + stride(from: 0, to: operands.count, by: size).map { start in
            joined(Array(operands[start..<min(start + size, operands.count)]), with: keyword, entityRun: entityRun, builder: &builder)
        }.joined(separator: " \(keyword) ") + ")"
    }

    static func likeEscaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
