import Annotation
import Foundation

/// The annotation catalog, whichever database holds it: records with their full text indexed,
/// annotation runs, entities with their concepts, rejects. SQLite (`SQLiteCatalog`, the embedded
/// default) and PostgreSQL (`PostgresCatalog`, shared by many machines) hold the same tables under
/// the same names; every operation below is written once, over `read` and `write`, so the two
/// give the same answers.
public protocol AnnotationCatalog: AnyObject, Sendable {
    /// The file or the URL (without its password), for messages.
    var location: String { get }
    /// Runs `body` on one connection that sees a consistent state.
    func read<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T
    /// Runs `body` in one transaction: all of it is committed, or none of it.
    func write<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T
}

/// Opens the catalog a `--store` names: a `postgres://` or `postgresql://` URL, or a SQLite file.
public func openCatalog(_ store: String) throws(CatalogError) -> any AnnotationCatalog {
    if PostgresCatalog.isURL(store) { return try PostgresCatalog(url: store) }
    return try SQLiteCatalog(path: store)
}

/// The words a full-text search sees in a text, as SQLite's FTS5 `unicode61 remove_diacritics 2`
/// cuts it: runs of letters and digits, case and diacritics folded. PostgreSQL indexes these words,
/// so a text term finds the same records in both catalogs.
enum SearchWords {
    static func of(_ text: String) -> [String] {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }
}

extension AnnotationCatalog {
    /// The run for this model and settings, created on first use.
    public func run(model: ModelIdentity, tasks: [String], settings: String) throws(CatalogError) -> Int64 {
        try write { c in
            let key: [SQLValue] = [.text(model.name), .text(model.version), .text(model.weights ?? ""), .text(settings)]
            try c.execute("""
                INSERT INTO run (model_name, model_version, model_weights, settings, tasks, started_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, key + [.text(tasks.joined(separator: ",")), .real(Date().timeIntervalSince1970)])
            return try c.row("SELECT id FROM run WHERE model_name = ? AND model_version = ? AND model_weights = ? AND settings = ?", key)!.int64("id")
        }
    }

    /// For each document, whether `run` still has to annotate it (it has not, or the text changed).
    public func needsAnnotation(_ documents: [Document], run: Int64) throws(CatalogError) -> [Bool] {
        try read { c in try Self.needsAnnotation(documents, run: run, c) }
    }

    static func needsAnnotation(_ documents: [Document], run: Int64, _ c: any SQLConnection) throws -> [Bool] {
        if c.dialect == .postgres {
            // One round trip for the whole batch.
            var stored: [String: String] = [:]
            for row in try c.rows("SELECT r.key, a.fingerprint FROM annotated a JOIN record r ON r.id = a.record_id WHERE r.key = ANY(?::text[]) AND a.run_id = ?",
                                  [.texts(documents.map(\.id)), .integer(run)]) {
                stored[try row.text("key")] = try row.text("fingerprint")
            }
            return documents.map { stored[$0.id] != $0.contentFingerprint }
        }
        return try documents.map { document in
            let stored = try c.row("SELECT a.fingerprint FROM annotated a JOIN record r ON r.id = a.record_id WHERE r.key = ? AND a.run_id = ?",
                                   [.text(document.id), .integer(run)])
            return try stored?.text("fingerprint") != document.contentFingerprint
        }
    }

    /// Stores annotated documents for `run` in one transaction: the record (its text replaced,
    /// and every run's entities of it dropped, if the text changed), then this run's entities
    /// with their concepts.
    /// - Parameter linkers: the fingerprint of the linkers that linked them ("" for none).
    public func store(_ documents: [Document], run: Int64, linkers: String = "") throws(CatalogError) {
        try write { c in try Self.store(documents, run: run, linkers: linkers, c) }
    }

    static func store(_ documents: [Document], run: Int64, linkers: String, _ c: any SQLConnection) throws {
        // (A batch naming one record twice, which jobs reject before it gets here, goes row by row.)
        if c.dialect == .postgres, Set(documents.map(\.id)).count == documents.count { return try storeBatch(documents, run: run, linkers: linkers, c) }
        for document in documents {
            let id = try record(document, c)
            try replaceEntities(of: document, record: id, run: run, c)
            try c.execute("""
                INSERT INTO annotated (record_id, run_id, fingerprint, linkers) VALUES (?, ?, ?, ?)
                ON CONFLICT (record_id, run_id) DO UPDATE SET fingerprint = excluded.fingerprint, linkers = excluded.linkers
                """, [.integer(id), .integer(run), .text(document.contentFingerprint), .text(linkers)])
        }
    }

    /// `store` in a handful of statements for the whole batch (PostgreSQL): each row a round trip
    /// would spend more time on the wire than the database spends on the rows. Entity ids are
    /// drawn from the table's sequence first, so concepts and merged rows can point at them.
    static func storeBatch(_ documents: [Document], run: Int64, linkers: String, _ c: any SQLConnection) throws {
        guard !documents.isEmpty else { return }
        var known: [String: (id: Int64, fingerprint: String)] = [:]
        for row in try c.rows("SELECT id, key, fingerprint FROM record WHERE key = ANY(?::text[])", [.texts(documents.map(\.id))]) {
            known[try row.text("key")] = (try row.int64("id"), try row.text("fingerprint"))
        }
        let records = try documents.map { document -> Int64 in
            if let stored = known[document.id], stored.fingerprint == document.contentFingerprint { return stored.id }
            return try record(document, c)
        }
        try c.execute("DELETE FROM entity WHERE run_id = ? AND record_id = ANY(?::bigint[])", [.integer(run), .integers(records)])
        try c.execute("DELETE FROM relation WHERE run_id = ? AND record_id = ANY(?::bigint[])", [.integer(run), .integers(records)])
        let relations = zip(documents, records).flatMap { document, record in Self.relationRows(of: document).map { (record, $0) } }
        if !relations.isEmpty {
            try c.execute("""
                INSERT INTO relation (record_id, run_id, type, first_role, first_concept, second_role, second_concept, score)
                SELECT u.record_id, ?, u.type, u.first_role, u.first_concept, u.second_role, u.second_concept, u.score
                FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::float8[])
                    AS u(record_id, type, first_role, first_concept, second_role, second_concept, score)
                """, [.integer(run), .integers(relations.map(\.0)), .texts(relations.map(\.1.type)), .texts(relations.map { $0.1.arguments[0].role }),
                      .texts(relations.map { $0.1.arguments[0].concept }), .texts(relations.map { $0.1.arguments[1].role }),
                      .texts(relations.map { $0.1.arguments[1].concept }), .reals(relations.map(\.1.score))])
        }
        let rows = documents.map(entityRows)
        let count = rows.reduce(0) { $0 + $1.count }
        if count > 0 {
            let ids = try c.rows("SELECT nextval(pg_get_serial_sequence('entity', 'id')) AS id FROM generate_series(1, ?)", [.integer(Int64(count))]).map { try $0.int64("id") }
            var next = 0
            var entity = (id: [Int64](), record: [Int64](), passage: [Int64](), type: [String](), start: [Int64](), end: [Int64](), text: [String](),
                          normalized: [String](), score: [Double](), mergedInto: [Int64]())
            var concept = (entity: [Int64](), position: [Int64](), id: [String](), name: [String](), score: [Double]())
            for (documentRows, record) in zip(rows, records) {
                var first: Int64 = 0
                for row in documentRows {
                    let id = ids[next], item = row.entity
                    next += 1
                    if row.isFirst { first = id }
                    entity.id.append(id); entity.record.append(record); entity.passage.append(Int64(row.passage)); entity.type.append(row.type)
                    entity.start.append(Int64(item.start)); entity.end.append(Int64(item.end)); entity.text.append(item.text)
                    entity.normalized.append(row.normalized); entity.score.append(item.score); entity.mergedInto.append(row.isFirst ? 0 : first)
                    for (position, reference) in item.concepts.enumerated() {
                        concept.entity.append(id); concept.position.append(Int64(position)); concept.id.append(reference.id)
                        concept.name.append(reference.name); concept.score.append(reference.score)
                    }
                }
            }
            try c.execute("""
                INSERT INTO entity (id, record_id, run_id, passage, type, start, "end", text, normalized, score, merged_into)
                SELECT u.id, u.record_id, ?, u.passage, u.type, u.start, u.stop, u.text, u.normalized, u.score, NULLIF(u.merged_into, 0)
                FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::float8[], ?::bigint[])
                    AS u(id, record_id, passage, type, start, stop, text, normalized, score, merged_into)
                """, [.integer(run), .integers(entity.id), .integers(entity.record), .integers(entity.passage), .texts(entity.type), .integers(entity.start),
                      .integers(entity.end), .texts(entity.text), .texts(entity.normalized), .reals(entity.score), .integers(entity.mergedInto)])
            if !concept.entity.isEmpty {
                try c.execute("""
                    INSERT INTO entity_concept (entity_id, position, concept_id, concept_name, score)
                    SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::float8[])
                    """, [.integers(concept.entity), .integers(concept.position), .texts(concept.id), .texts(concept.name), .reals(concept.score)])
            }
        }
        try c.execute("""
            INSERT INTO annotated (record_id, run_id, fingerprint, linkers) SELECT u.record_id, ?, u.fingerprint, ? FROM unnest(?::bigint[], ?::text[]) AS u(record_id, fingerprint)
            ON CONFLICT (record_id, run_id) DO UPDATE SET fingerprint = excluded.fingerprint, linkers = excluded.linkers
            """, [.integer(run), .text(linkers), .integers(records), .texts(documents.map(\.contentFingerprint))])
    }

    /// The record of a document, added if new; if its text changed, the text is replaced and every
    /// run's entities of it dropped.
    /// - Returns: its id.
    static func record(_ document: Document, _ c: any SQLConnection) throws -> Int64 {
        let fingerprint = document.contentFingerprint
        let passages = try passagesJSON(document)
        let id: Int64
        if let stored = try c.row("SELECT id, fingerprint FROM record WHERE key = ?", [.text(document.id)]) {
            id = try stored.int64("id")
            guard try stored.text("fingerprint") != fingerprint else { return id }
            try c.execute("DELETE FROM entity WHERE record_id = ?", [.integer(id)])
            try c.execute("DELETE FROM relation WHERE record_id = ?", [.integer(id)])
            try c.execute("DELETE FROM annotated WHERE record_id = ?", [.integer(id)])
            try c.execute(c.dialect == .sqlite ? "DELETE FROM record_text WHERE rowid = ?" : "DELETE FROM record_text WHERE record_id = ?", [.integer(id)])
            try c.execute("UPDATE record SET fingerprint = ?, passages = ? WHERE id = ?", [.text(fingerprint), .text(passages), .integer(id)])
        } else {
            id = try c.row("INSERT INTO record (key, fingerprint, passages, added_at) VALUES (?, ?, ?, ?) RETURNING id",
                           [.text(document.id), .text(fingerprint), .text(passages), .real(Date().timeIntervalSince1970)])!.int64("id")
        }
        let text = document.passages.map(\.text).joined(separator: "\n")
        switch c.dialect {
        case .sqlite: try c.execute("INSERT INTO record_text (rowid, text) VALUES (?, ?)", [.integer(id), .text(text)])
        case .postgres:
            try c.execute("INSERT INTO record_text (record_id, words) VALUES (?, ?)", [.integer(id), .text(SearchWords.of(text).joined(separator: " "))])
        }
        return id
    }

    /// Replaces a record's entities of one run: a row per entity and per further type it was
    /// found as (pointing at the first), each with its concepts; and its relations.
    static func replaceEntities(of document: Document, record id: Int64, run: Int64, _ c: any SQLConnection) throws {
        try c.execute("DELETE FROM entity WHERE record_id = ? AND run_id = ?", [.integer(id), .integer(run)])
        try c.execute("DELETE FROM relation WHERE record_id = ? AND run_id = ?", [.integer(id), .integer(run)])
        for relation in relationRows(of: document) {
            try c.execute("""
                INSERT INTO relation (record_id, run_id, type, first_role, first_concept, second_role, second_concept, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.integer(id), .integer(run), .text(relation.type), .text(relation.arguments[0].role), .text(relation.arguments[0].concept),
                      .text(relation.arguments[1].role), .text(relation.arguments[1].concept), .real(relation.score)])
        }
        var first: Int64?
        for row in entityRows(of: document) {
            let item = row.entity
            let inserted = try c.row("""
                INSERT INTO entity (record_id, run_id, passage, type, start, "end", text, normalized, score, merged_into)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """, [.integer(id), .integer(run), .integer(Int64(row.passage)), .text(row.type), .integer(Int64(item.start)), .integer(Int64(item.end)),
                      .text(item.text), .text(row.normalized), .real(item.score), row.isFirst ? .null : first.map { .integer($0) } ?? .null])!.int64("id")
            if row.isFirst { first = inserted }
            for (position, concept) in item.concepts.enumerated() {
                try c.execute("INSERT INTO entity_concept (entity_id, position, concept_id, concept_name, score) VALUES (?, ?, ?, ?, ?)",
                              [.integer(inserted), .integer(Int64(position)), .text(concept.id), .text(concept.name), .real(concept.score)])
            }
        }
    }

    /// The relations of a document the catalog stores: those of two arguments (what relation
    /// heads find).
    static func relationRows(of document: Document) -> [Relation] { document.relations.filter { $0.arguments.count == 2 } }

    /// A document's rows of `entity`, in order: each entity once per type it was found as, the
    /// first of them the row the others are merged into.
    static func entityRows(of document: Document) -> [EntityRow] {
        document.passages.enumerated().flatMap { index, passage in
            passage.entities.flatMap { entity in
                let normalized = SearchQuery.normalize(entity.text)
                return ([entity.type] + entity.otherTypes).enumerated().map { position, type in
                    EntityRow(passage: index, type: type, entity: entity, normalized: normalized, isFirst: position == 0)
                }
            }
        }
    }

    /// Keeps a record that could not be annotated, with its place and reason (once per place).
    public func reject(_ reject: Reject, run: Int64) throws(CatalogError) {
        try write { c in try Self.reject(reject, run: run, c) }
    }

    static func reject(_ reject: Reject, run: Int64, _ c: any SQLConnection) throws {
        try c.execute("""
            INSERT INTO reject (run_id, record_key, location, reason) VALUES (?, ?, ?, ?)
            ON CONFLICT (run_id, location) DO UPDATE SET record_key = excluded.record_key, reason = excluded.reason
            """, [.integer(run), reject.id.map { .text($0) } ?? .null, .text(reject.location), .text(reject.reason)])
    }

    public func rejects(run: Int64) throws(CatalogError) -> [Reject] {
        try read { c in
            try c.rows("SELECT record_key, location, reason FROM reject WHERE run_id = ? ORDER BY id", [.integer(run)])
                .map { Reject(id: try $0.optionalText("record_key"), location: try $0.text("location"), reason: try $0.text("reason")) }
        }
    }

    public func runs() throws(CatalogError) -> [CatalogRun] {
        try read { c in
            try c.rows("""
                SELECT r.id, r.model_name, r.model_version, r.model_weights, r.tasks, r.settings, r.started_at,
                       (SELECT COUNT(*) FROM annotated a WHERE a.run_id = r.id) AS records,
                       (SELECT COUNT(*) FROM entity e WHERE e.run_id = r.id) AS entities
                FROM run r ORDER BY r.id
                """, []).map { row in
                let weights = try row.text("model_weights")
                return CatalogRun(id: try row.int64("id"), model: ModelIdentity(name: try row.text("model_name"), version: try row.text("model_version"), weights: weights.isEmpty ? nil : weights),
                                  tasks: try row.text("tasks").split(separator: ",").map(String.init), settings: try row.text("settings"),
                                  startedAt: Date(timeIntervalSince1970: try row.double("started_at")), records: try row.int("records"), entities: try row.int("entities"))
            }
        }
    }

    /// Every stored entity of a record for a run, as its passages with their entities.
    public func document(key: String, run: Int64) throws(CatalogError) -> Document? {
        try read { c in
            guard let row = try c.row("SELECT id, passages FROM record WHERE key = ?", [.text(key)]) else { return nil }
            var document = Document(id: key, passages: try Self.passages(fromJSON: try row.text("passages")))
            try Self.loadEntities(into: &document, record: try row.int64("id"), run: run, c)
            document.relations = try c.rows("""
                SELECT type, first_role, first_concept, second_role, second_concept, score FROM relation WHERE record_id = ? AND run_id = ?
                ORDER BY type, first_concept, second_concept
                """, [.integer(try row.int64("id")), .integer(run)]).map { row in
                Relation(type: try row.text("type"), arguments: [Relation.Argument(role: try row.text("first_role"), concept: try row.text("first_concept")),
                                                                 Relation.Argument(role: try row.text("second_role"), concept: try row.text("second_concept"))],
                         score: try row.double("score"))
            }
            return document
        }
    }

    /// A record's stored entities of one run into its passages: rows merged into another become
    /// its `otherTypes` (or, `unmerged`, entities of their own again), and each entity gets its
    /// concepts.
    static func loadEntities(into document: inout Document, record: Int64, run: Int64, unmerged: Bool = false, _ c: any SQLConnection) throws {
        var concepts: [Int64: [ConceptReference]] = [:]
        for row in try c.rows("""
            SELECT c.entity_id, c.concept_id, c.concept_name, c.score FROM entity_concept c JOIN entity e ON e.id = c.entity_id
            WHERE e.record_id = ? AND e.run_id = ? ORDER BY c.entity_id, c.position
            """, [.integer(record), .integer(run)]) {
            concepts[try row.int64("entity_id"), default: []].append(ConceptReference(id: try row.text("concept_id"), name: try row.text("concept_name"), score: try row.double("score")))
        }
        var place: [Int64: (passage: Int, index: Int)] = [:]
        for row in try c.rows("""
            SELECT id, passage, type, start, "end", text, score, merged_into FROM entity WHERE record_id = ? AND run_id = ? ORDER BY passage, start, "end", id
            """, [.integer(record), .integer(run)]) {
            let passage = try row.int("passage")
            guard document.passages.indices.contains(passage) else { continue }
            if !unmerged, let into = try row.optionalInt64("merged_into"), let target = place[into] {
                document.passages[target.passage].entities[target.index].otherTypes.append(try row.text("type"))
                continue
            }
            let id = try row.int64("id")
            place[id] = (passage, document.passages[passage].entities.count)
            document.passages[passage].entities.append(Entity(type: try row.text("type"), start: try row.int("start"), end: try row.int("end"), text: try row.text("text"),
                                                              score: try row.double("score"), concepts: concepts[id] ?? []))
        }
    }

    /// Links stored entities again with other linkers, without the encoder: every record
    /// annotation not yet linked by `linkers` (a fingerprint of the linker set) is read back with
    /// its entities unmerged, given to `link`, and stored with the concepts it gets, `batch`
    /// annotations per transaction; a stopped re-link resumes where it stopped. Relations found
    /// between the old concepts are dropped: a relation head needs the encoder's pass over the
    /// text (annotate again to have them).
    /// - Returns: how many record annotations were linked again.
    public func relink(linkers: String, batch: Int = 256, link: ([Document]) -> [Document]) throws(CatalogError) -> Int {
        var done = 0
        while true {
            let pending = try read { c in
                try c.rows("""
                    SELECT a.record_id, a.run_id, r.key, r.passages FROM annotated a JOIN record r ON r.id = a.record_id
                    WHERE a.linkers != ? ORDER BY a.record_id, a.run_id LIMIT ?
                    """, [.text(linkers), .integer(Int64(batch))]).map { row -> (record: Int64, run: Int64, document: Document) in
                    let record = try row.int64("record_id"), run = try row.int64("run_id")
                    var document = Document(id: try row.text("key"), passages: try Self.passages(fromJSON: try row.text("passages")))
                    try Self.loadEntities(into: &document, record: record, run: run, unmerged: true, c)
                    for p in document.passages.indices { for e in document.passages[p].entities.indices { document.passages[p].entities[e].concepts = [] } }
                    return (record, run, document)
                }
            }
            guard !pending.isEmpty else { return done }
            let linked = link(pending.map(\.document))
            try write { c in
                for (item, document) in zip(pending, linked) {
                    try Self.replaceEntities(of: document, record: item.record, run: item.run, c)
                    try c.execute("UPDATE annotated SET linkers = ? WHERE record_id = ? AND run_id = ?", [.text(linkers), .integer(item.record), .integer(item.run)])
                }
            }
            done += pending.count
        }
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

/// One row of `entity`: an entity as one of the types it was found as.
struct EntityRow {
    let passage: Int
    let type: String
    let entity: Entity
    let normalized: String
    /// The entity's first type: the row the others point at (`merged_into`).
    let isFirst: Bool
}

private struct StoredPassage: Codable {
    var text: String
    var offset: Int
    var infons: [String: String]
}
