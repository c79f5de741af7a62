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

/// The annotation catalog in one SQLite file (GRDB, WAL mode), the embedded default: records with
/// their full text indexed by FTS5, annotation runs, entities, rejects. Every batch is one
/// transaction, so a run killed at any point keeps every batch it finished and loses none; records
/// already annotated by a run (same text) are skipped when it runs again.
public final class SQLiteCatalog: AnnotationCatalog {
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
        // Relations between a record's concepts (a relation head's, two arguments each).
        migrator.registerMigration("v5-relations") { db in
            try db.execute(sql: """
                CREATE TABLE relation (
                    record_id INTEGER NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    type TEXT NOT NULL,
                    first_role TEXT NOT NULL,
                    first_concept TEXT NOT NULL,
                    second_role TEXT NOT NULL,
                    second_concept TEXT NOT NULL,
                    score REAL NOT NULL);
                CREATE INDEX relation_by_record ON relation (record_id, run_id);
                CREATE INDEX relation_by_type ON relation (type);
                """)
        }
        return migrator
    }

    public var location: String { path }

    /// Runs a database operation; its errors say what SQLite said, never the statement (which
    /// would show a user SQL they did not write).
    func wrap<T>(_ body: () throws -> T) throws(CatalogError) -> T {
        do { return try body() } catch let error as CatalogError { throw error } catch let error as DatabaseError {
            throw .database(path: path, reason: "SQLite error \(error.resultCode.rawValue): \(error.message ?? "unknown")")
        } catch { throw .database(path: path, reason: "\(error)") }
    }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T {
        try wrap { try database.read { db in try body(GRDBConnection(db: db)) } }
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T {
        try wrap { try database.write { db in try body(GRDBConnection(db: db)) } }
    }
}
