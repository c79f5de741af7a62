import Annotation
import Foundation
import GRDB

public enum CatalogError: Error, CustomStringConvertible {
    case database(path: String, reason: String)
    case query(SearchQueryError)
    case noRun(path: String)

    public var description: String {
        switch self {
        case let .database(path, reason): "\(path): \(reason)"
        case let .query(error): error.description
        case let .noRun(path): "\(path) holds no annotation run yet: annotate records with --store first"
        }
    }
}

/// One annotation run: a model version (and its weights' fingerprint) with its settings.
/// Re-running it changes nothing; a new model version, other weights or other settings make a
/// new run beside the old ones.
public struct CatalogRun: Sendable, Equatable, Codable {
    public var id: Int64
    public var model: ModelIdentity
    public var tasks: [String]
    public var settings: String
    public var startedAt: Date
    public var records: Int
    public var entities: Int
}

/// The annotation catalog in SQLite (GRDB, WAL mode): records with their full text indexed by
/// FTS5, annotation runs, entities, rejects. Every batch is one transaction, so a run killed at
/// any point keeps every batch it finished and loses none; records already annotated by a run
/// (same text) are skipped when it runs again.
public final class SQLiteCatalog: Sendable {
    public let path: String
    let database: DatabasePool

    public init(path: String) throws(CatalogError) {
        self.path = path
        do {
            var configuration = Configuration()
            // Several processes may share a catalog (annotators, searches): wait for a lock
            // rather than fail at once.
            configuration.busyMode = .timeout(30)
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch { throw .database(path: path, reason: "\(error)") }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE record (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    fingerprint TEXT NOT NULL,
                    passages TEXT NOT NULL,
                    added_at REAL NOT NULL);
                CREATE VIRTUAL TABLE record_text USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
                CREATE TABLE run (
                    id INTEGER PRIMARY KEY,
                    model_name TEXT NOT NULL,
                    model_version TEXT NOT NULL,
                    tasks TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    UNIQUE (model_name, model_version, settings));
                CREATE TABLE annotated (
                    record_id INTEGER NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    fingerprint TEXT NOT NULL,
                    PRIMARY KEY (record_id, run_id)) WITHOUT ROWID;
                CREATE TABLE entity (
                    id INTEGER PRIMARY KEY,
                    record_id INTEGER NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    passage INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    "end" INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    normalized TEXT NOT NULL,
                    score REAL NOT NULL);
                CREATE INDEX entity_by_value ON entity (run_id, type, normalized);
                CREATE INDEX entity_by_record ON entity (record_id, run_id);
                CREATE TABLE reject (
                    id INTEGER PRIMARY KEY,
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    record_key TEXT,
                    location TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    UNIQUE (run_id, location));
                """)
        }
        // A run is also told apart by its weights' fingerprint: two copies of a model with the same
        // version and other weights are not the same model. (SQLite cannot change a UNIQUE
        // constraint in place: the table is rebuilt, foreign keys checked after the migration.)
        migrator.registerMigration("v3-model-weights") { db in
            try db.execute(sql: """
                CREATE TABLE run_new (
                    id INTEGER PRIMARY KEY,
                    model_name TEXT NOT NULL,
                    model_version TEXT NOT NULL,
                    model_weights TEXT NOT NULL DEFAULT '',
                    tasks TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    UNIQUE (model_name, model_version, model_weights, settings));
                INSERT INTO run_new (id, model_name, model_version, tasks, settings, started_at)
                    SELECT id, model_name, model_version, tasks, settings, started_at FROM run;
                DROP TABLE run;
                ALTER TABLE run_new RENAME TO run;
                """)
        }
        // Search answers by default from each record's latest annotation, whatever its run: entity
        // terms then find their records by type and value alone.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "CREATE INDEX entity_by_type_value ON entity (type, normalized)")
        }
        // Linking: each entity's concepts (one, or one per part of a composite mention), which
        // linkers made them (a new linker set re-links stored entities, no encoder needed), and a
        // span two heads linked alike: one entity, kept as a row per type, the others pointing
        // at the first (`merged_into`).
        migrator.registerMigration("v4-concepts") { db in
            try db.execute(sql: """
                CREATE TABLE entity_concept (
                    entity_id INTEGER NOT NULL REFERENCES entity(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    concept_id TEXT NOT NULL,
                    concept_name TEXT NOT NULL,
                    score REAL NOT NULL,
                    PRIMARY KEY (entity_id, position)) WITHOUT ROWID;
                CREATE INDEX entity_concept_by_id ON entity_concept (concept_id COLLATE NOCASE);
                ALTER TABLE entity ADD COLUMN merged_into INTEGER;
                ALTER TABLE annotated ADD COLUMN linkers TEXT NOT NULL DEFAULT '';
                """)
        }
        return migrator
    }

    /// Runs a database operation; its errors say what SQLite said, never the statement (which
    /// would show a user SQL they did not write).
    func wrap<T>(_ body: () throws -> T) throws(CatalogError) -> T {
        do { return try body() } catch let error as CatalogError { throw error } catch let error as DatabaseError {
            throw .database(path: path, reason: "SQLite error \(error.resultCode.rawValue): \(error.message ?? "unknown")")
        } catch { throw .database(path: path, reason: "\(error)") }
    }

    /// The run for this model and settings, created on first use.
    public func run(model: ModelIdentity, tasks: [String], settings: String) throws(CatalogError) -> Int64 {
        try wrap {
            try database.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO run (model_name, model_version, model_weights, tasks, settings, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [model.name, model.version, model.weights ?? "", tasks.joined(separator: ","), settings, Date().timeIntervalSince1970])
                return try Int64.fetchOne(db, sql: "SELECT id FROM run WHERE model_name = ? AND model_version = ? AND model_weights = ? AND settings = ?",
                                          arguments: [model.name, model.version, model.weights ?? "", settings])!
            }
        }
    }

    /// For each document, whether `run` still has to annotate it (it has not, or the text changed).
    public func needsAnnotation(_ documents: [Document], run: Int64) throws(CatalogError) -> [Bool] {
        try wrap {
            try database.read { db in
                try documents.map { document in
                    let stored = try String.fetchOne(db, sql: """
                        SELECT a.fingerprint FROM annotated a JOIN record r ON r.id = a.record_id WHERE r.key = ? AND a.run_id = ?
                        """, arguments: [document.id, run])
                    return stored != document.contentFingerprint
                }
            }
        }
    }

    /// Stores annotated documents for `run` in one transaction: the record (its text replaced,
    /// and every run's entities of it dropped, if the text changed), then this run's entities
    /// with their concepts.
    /// - Parameter linkers: the fingerprint of the linkers that linked them ("" for none).
    public func store(_ documents: [Document], run: Int64, linkers: String = "") throws(CatalogError) {
        try wrap {
            try database.write { db in
                for document in documents {
                    let fingerprint = document.contentFingerprint
                    let stored = try Row.fetchOne(db, sql: "SELECT id, fingerprint FROM record WHERE key = ?", arguments: [document.id])
                    var recordId: Int64? = stored?["id"]
                    let storedFingerprint: String? = stored?["fingerprint"]
                    if recordId == nil || storedFingerprint != fingerprint {
                        if let stale = recordId {
                            try db.execute(sql: "DELETE FROM entity WHERE record_id = ?; DELETE FROM annotated WHERE record_id = ?; DELETE FROM record_text WHERE rowid = ?;",
                                           arguments: [stale, stale, stale])
                            try db.execute(sql: "UPDATE record SET fingerprint = ?, passages = ? WHERE id = ?", arguments: [fingerprint, try Self.passagesJSON(document), stale])
                        } else {
                            try db.execute(sql: "INSERT INTO record (key, fingerprint, passages, added_at) VALUES (?, ?, ?, ?)",
                                           arguments: [document.id, fingerprint, try Self.passagesJSON(document), Date().timeIntervalSince1970])
                            recordId = db.lastInsertedRowID
                        }
                        try db.execute(sql: "INSERT INTO record_text (rowid, text) VALUES (?, ?)",
                                       arguments: [recordId!, document.passages.map(\.text).joined(separator: "\n")])
                    }
                    let id = recordId!
                    try Self.replaceEntities(of: document, record: id, run: run, db: db)
                    try db.execute(sql: "INSERT OR REPLACE INTO annotated (record_id, run_id, fingerprint, linkers) VALUES (?, ?, ?, ?)",
                                   arguments: [id, run, fingerprint, linkers])
                }
            }
        }
    }

    /// Replaces a record's entities of one run: a row per entity and per further type it was
    /// found as (pointing at the first), each with its concepts.
    static func replaceEntities(of document: Document, record id: Int64, run: Int64, db: Database) throws {
        try db.execute(sql: "DELETE FROM entity WHERE record_id = ? AND run_id = ?", arguments: [id, run])
        // Compiled once per connection (GRDB caches them).
        let insert = try db.cachedStatement(sql: """
            INSERT INTO entity (record_id, run_id, passage, type, start, "end", text, normalized, score, merged_into) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertConcept = try db.cachedStatement(sql: "INSERT INTO entity_concept (entity_id, position, concept_id, concept_name, score) VALUES (?, ?, ?, ?, ?)")
        for (index, passage) in document.passages.enumerated() {
            for entity in passage.entities {
                let normalized = SearchQuery.normalize(entity.text)
                var first: Int64?
                for type in [entity.type] + entity.otherTypes {
                    try insert.execute(arguments: [id, run, index, type, entity.start, entity.end, entity.text, normalized, entity.score, first])
                    let row = db.lastInsertedRowID
                    first = first ?? row
                    for (position, concept) in entity.concepts.enumerated() {
                        try insertConcept.execute(arguments: [row, position, concept.id, concept.name, concept.score])
                    }
                }
            }
        }
    }

    /// Keeps a record that could not be annotated, with its place and reason (once per place).
    public func reject(_ reject: Reject, run: Int64) throws(CatalogError) {
        try wrap {
            try database.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO reject (run_id, record_key, location, reason) VALUES (?, ?, ?, ?)",
                               arguments: [run, reject.id, reject.location, reject.reason])
            }
        }
    }

    public func rejects(run: Int64) throws(CatalogError) -> [Reject] {
        try wrap {
            try database.read { db in
                try Row.fetchAll(db, sql: "SELECT record_key, location, reason FROM reject WHERE run_id = ? ORDER BY id", arguments: [run])
                    .map { Reject(id: $0["record_key"], location: $0["location"], reason: $0["reason"]) }
            }
        }
    }

    public func runs() throws(CatalogError) -> [CatalogRun] {
        try wrap {
            try database.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT r.*, (SELECT COUNT(*) FROM annotated a WHERE a.run_id = r.id) AS records,
                           (SELECT COUNT(*) FROM entity e WHERE e.run_id = r.id) AS entities
                    FROM run r ORDER BY r.id
                    """).map { row in
                    CatalogRun(id: row["id"], model: ModelIdentity(name: row["model_name"], version: row["model_version"],
                                                                   weights: (row["model_weights"] as String).isEmpty ? nil : row["model_weights"]),
                               tasks: (row["tasks"] as String).split(separator: ",").map(String.init), settings: row["settings"],
                               startedAt: Date(timeIntervalSince1970: row["started_at"]), records: row["records"], entities: row["entities"])
                }
            }
        }
    }

    /// Every stored entity of a record for a run, as its passages with their entities.
    public func document(key: String, run: Int64) throws(CatalogError) -> Document? {
        try wrap {
            try database.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT id, passages FROM record WHERE key = ?", arguments: [key]) else { return nil }
                var document = Document(id: key, passages: try Self.passages(fromJSON: row["passages"]))
                try Self.loadEntities(into: &document, record: row["id"], run: run, db: db)
                return document
            }
        }
    }

    /// A record's stored entities of one run into its passages: rows merged into another become
    /// its `otherTypes` (or, `unmerged`, entities of their own again), and each entity gets its
    /// concepts.
    static func loadEntities(into document: inout Document, record: Int64, run: Int64, unmerged: Bool = false, db: Database) throws {
        let rows = try Row.fetchAll(db, sql: """
            SELECT e.*, (SELECT json_group_array(json_array(c.concept_id, c.concept_name, c.score))
                         FROM (SELECT * FROM entity_concept WHERE entity_id = e.id ORDER BY position) c) AS concepts
            FROM entity e WHERE e.record_id = ? AND e.run_id = ? ORDER BY e.passage, e.start, e."end", e.id
            """, arguments: [record, run])
        var place: [Int64: (passage: Int, index: Int)] = [:]
        for row in rows {
            let passage: Int = row["passage"]
            guard document.passages.indices.contains(passage) else { continue }
            if !unmerged, let into: Int64 = row["merged_into"], let target = place[into] {
                document.passages[target.passage].entities[target.index].otherTypes.append(row["type"])
                continue
            }
            let concepts = try JSONDecoder().decode([[ConceptField]].self, from: Data((row["concepts"] as String? ?? "[]").utf8)).compactMap { fields -> ConceptReference? in
                guard fields.count == 3, case let .text(id) = fields[0], case let .text(name) = fields[1], case let .number(score) = fields[2] else { return nil }
                return ConceptReference(id: id, name: name, score: score)
            }
            place[row["id"]] = (passage, document.passages[passage].entities.count)
            document.passages[passage].entities.append(Entity(type: row["type"], start: row["start"], end: row["end"], text: row["text"], score: row["score"], concepts: concepts))
        }
    }

    /// Links stored entities again with other linkers, without the encoder: every record
    /// annotation not yet linked by `linkers` (a fingerprint of the linker set) is read back with
    /// its entities unmerged, given to `link`, and stored with the concepts it gets, `batch`
    /// annotations per transaction; a stopped re-link resumes where it stopped.
    /// - Returns: how many record annotations were linked again.
    public func relink(linkers: String, batch: Int = 256, link: ([Document]) -> [Document]) throws(CatalogError) -> Int {
        var done = 0
        while true {
            let count = try wrap { () throws -> Int in
                let pending = try database.read { db in
                    try Row.fetchAll(db, sql: """
                        SELECT a.record_id, a.run_id, r.key, r.passages FROM annotated a JOIN record r ON r.id = a.record_id
                        WHERE a.linkers != ? ORDER BY a.record_id, a.run_id LIMIT ?
                        """, arguments: [linkers, batch]).map { row -> (record: Int64, run: Int64, document: Document) in
                        var document = Document(id: row["key"], passages: try Self.passages(fromJSON: row["passages"]))
                        try Self.loadEntities(into: &document, record: row["record_id"], run: row["run_id"], unmerged: true, db: db)
                        for p in document.passages.indices { for e in document.passages[p].entities.indices { document.passages[p].entities[e].concepts = [] } }
                        return (row["record_id"], row["run_id"], document)
                    }
                }
                guard !pending.isEmpty else { return 0 }
                let linked = link(pending.map(\.document))
                try database.write { db in
                    for (item, document) in zip(pending, linked) {
                        try Self.replaceEntities(of: document, record: item.record, run: item.run, db: db)
                        try db.execute(sql: "UPDATE annotated SET linkers = ? WHERE record_id = ? AND run_id = ?", arguments: [linkers, item.record, item.run])
                    }
                }
                return pending.count
            }
            guard count > 0 else { return done }
            done += count
        }
    }

    /// One field of SQLite's `json_array(id, name, score)`.
    private enum ConceptField: Decodable {
        case text(String), number(Double)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
        }
    }

    private struct StoredPassage: Codable {
        var text: String
        var offset: Int
        var infons: [String: String]
    }

    static func passagesJSON(_ document: Document) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(document.passages.map { StoredPassage(text: $0.text, offset: $0.offset, infons: $0.infons) }), as: UTF8.self)
    }

    static func passages(fromJSON json: String) throws -> [Passage] {
        try JSONDecoder().decode([StoredPassage].self, from: Data(json.utf8)).map { Passage(text: $0.text, offset: $0.offset, infons: $0.infons) }
    }
}
