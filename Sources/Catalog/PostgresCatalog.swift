import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// The annotation catalog in PostgreSQL (postgres-nio), for many machines annotating one corpus:
/// the same tables, names and answers as `SQLiteCatalog`, full-text search through a `tsvector`
/// over the same words FTS5 indexes, and the work queue of `biotag worker` (`WorkQueue.swift`).
///
/// One connection, used by one operation at a time: `read` runs in a read-only repeatable-read
/// transaction, `write` in a transaction committed whole. The calls block their thread (the
/// command line's and the annotation job's threads, never an event loop).
public final class PostgresCatalog: AnnotationCatalog {
    /// The URL without its password.
    public let location: String
    private let url: String
    let queryTimeout: Double
    let connection: PostgresConnection
    let logger: Logger
    private let lock = NSLock()

    /// Whether a `--store` value names a PostgreSQL database rather than a SQLite file.
    public static func isURL(_ store: String) -> Bool {
        store.hasPrefix("postgres://") || store.hasPrefix("postgresql://")
    }

    /// Connects to `postgres://user[:password]@host[:port]/database` and brings its tables up to
    /// date (several workers starting at once migrate it once: the migration holds a lock).
    /// Without a host, or with `?host=/path`, it connects through the Unix socket in that
    /// directory (default /var/run/postgresql). A missing user or password comes from `PGUSER` /
    /// `PGPASSWORD`, a missing user then from `USER`. Over TCP, `sslmode` is libpq's: `disable`
    /// (the default), `prefer`, `require` (encrypted, certificate not checked), `verify-ca`,
    /// `verify-full` (certificate and host name checked), with `sslrootcert=FILE` for a CA of one's
    /// own (otherwise the system's).
    /// - Parameter queryTimeout: seconds a statement may go unanswered before the connection is
    ///   closed and the operation fails: a server that vanished without closing its connections
    ///   (a host down, a network cut) must not hold a worker for ever.
    public init(url: String, queryTimeout: Double = 600) throws(CatalogError) {
        let configuration: PostgresConnection.Configuration
        (configuration, location) = try Self.configuration(url)
        self.url = url
        self.queryTimeout = queryTimeout
        var logger = Logger(label: "biotag.catalog")
        logger.logLevel = .error
        self.logger = logger
        do {
            connection = try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: 1, logger: logger).wait()
        } catch { throw .database(path: location, reason: "cannot connect: \(Self.describe(error))") }
        try Self.migrate(self)
    }

    deinit { try? connection.close().wait() }

    static func configuration(_ url: String) throws(CatalogError) -> (PostgresConnection.Configuration, String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw .database(path: url, reason: "not a PostgreSQL URL: expected postgres://user@host[:port]/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw .database(path: url, reason: "the URL names no database: expected postgres://user@host[:port]/database")
        }
        let environment = ProcessInfo.processInfo.environment
        let user = components.user.flatMap { $0.removingPercentEncoding } ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding } ?? environment["PGPASSWORD"]
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys where !["host", "sslmode", "sslrootcert"].contains(name) {
            throw .database(path: url, reason: "unknown URL parameter '\(name)' (known: host, sslmode, sslrootcert)")
        }
        let mode = query["sslmode"] ?? "disable"
        let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
        guard modes.contains(mode) else { throw .database(path: url, reason: "sslmode=\(mode): expected one of \(modes.joined(separator: ", "))") }
        var shown = components
        shown.password = nil
        let location = shown.string ?? url
        let socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? ((components.host ?? "").isEmpty ? "/var/run/postgresql" : nil)
        if let socketDirectory {
            // PostgreSQL speaks TLS over TCP only.
            guard ["disable", "allow", "prefer"].contains(mode) else { throw .database(path: location, reason: "sslmode=\(mode) needs a TCP host: a Unix socket has no TLS") }
            let port = components.port ?? 5432
            return (PostgresConnection.Configuration(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database), location)
        }
        let tls: PostgresConnection.Configuration.TLS
        if ["disable", "allow"].contains(mode) {
            tls = .disable
        } else {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = switch mode {
            case "verify-full": .fullVerification
            case "verify-ca": .noHostnameVerification
            default: .none
            }
            if let root = query["sslrootcert"] {
                guard FileManager.default.isReadableFile(atPath: root) else { throw .database(path: location, reason: "sslrootcert=\(root): no such readable file") }
                configuration.trustRoots = .file(root)
            }
            do {
                let context = try NIOSSLContext(configuration: configuration)
                tls = mode == "prefer" ? .prefer(context) : .require(context)
            } catch { throw .database(path: location, reason: "TLS set-up: \(error)") }
        }
        return (PostgresConnection.Configuration(host: components.host!, port: components.port ?? 5432, username: user, password: password, database: database, tls: tls), location)
    }

    /// Creates an empty database on the same server (for tests and set-up scripts).
    /// - Returns: the URL of it, this one's with the database name replaced.
    public func createDatabase(_ name: String) throws(CatalogError) -> String {
        guard let first = name.unicodeScalars.first, first.properties.isLowercase || first == "_",
              name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isLowercase || $0.properties.numericType != nil)) || $0 == "_" }), name.count <= 63 else {
            throw .database(path: location, reason: "'\(name)' is not a database name biotag creates: lowercase ASCII letters, digits and _, at most 63")
        }
        do {
            // CREATE DATABASE cannot run inside a transaction.
            try lock.withLock { try sql.execute("CREATE DATABASE \(name)") }
        } catch { throw .database(path: location, reason: Self.describe(error)) }
        var components = URLComponents(string: url)!
        components.path = "/" + name
        return components.string!
    }

    /// What PostgreSQL said (its message, detail and SQLSTATE), never the statement.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                let message = info[.message] ?? "unknown", detail = info[.detail].map { " (\($0))" } ?? ""
                return "PostgreSQL error \(info[.sqlState] ?? "?"): \(message)\(detail)"
            }
            return "PostgreSQL connection: \(error.code)\(error.underlying.map { ": \($0)" } ?? "")"
        }
        return "\(error)"
    }

    /// Statements on this catalog's connection (callers hold `lock`).
    private var sql: PostgresSQL { PostgresSQL(connection: connection, logger: logger, timeout: queryTimeout) }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T {
        try transaction("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ", body)
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T {
        try transaction("BEGIN", body)
    }

    /// Runs `body` between `begin` and COMMIT on the connection, one operation at a time; any error
    /// rolls the whole of it back.
    func transaction<T>(_ begin: String, _ body: (any SQLConnection) throws -> T) throws(CatalogError) -> T {
        do {
            return try lock.withLock {
                try sql.execute(begin)
                do {
                    let value = try body(sql)
                    try sql.execute("COMMIT")
                    return value
                } catch {
                    try? sql.execute("ROLLBACK")
                    throw error
                }
            }
        } catch let error as CatalogError { throw error } catch {
            throw .database(path: location, reason: Self.describe(error))
        }
    }

    /// The tables, created or brought up to date once per database, in one transaction under an
    /// advisory lock (workers that start together wait for the first).
    static func migrate(_ catalog: PostgresCatalog) throws(CatalogError) {
        try catalog.write { c in
            try c.execute("SELECT pg_advisory_xact_lock(7245031)")
            try c.execute("CREATE TABLE IF NOT EXISTS biotag_migration (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            let applied = Set(try c.rows("SELECT identifier FROM biotag_migration", []).map { try $0.text("identifier") })
            for (identifier, sql) in migrations where !applied.contains(identifier) {
                // One statement at a time: the extended protocol takes one per query.
                for statement in sql.components(separatedBy: ";\n") where !statement.allSatisfy(\.isWhitespace) {
                    try c.execute(statement.trimmingCharacters(in: CharacterSet(charactersIn: "; \n")))
                }
                try c.execute("INSERT INTO biotag_migration (identifier) VALUES (?)", [.text(identifier)])
            }
        }
    }

    /// The SQLite catalog's tables under the same names (text columns compare and sort bytewise,
    /// as SQLite's do), `record_text` a `tsvector` over the words FTS5 would index, and the queue.
    static let migrations: [(String, String)] = [
        ("v1-catalog", """
            CREATE TABLE record (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                key TEXT COLLATE "C" NOT NULL UNIQUE,
                fingerprint TEXT NOT NULL,
                passages TEXT NOT NULL,
                added_at DOUBLE PRECISION NOT NULL);
            CREATE TABLE record_text (
                record_id BIGINT PRIMARY KEY REFERENCES record(id) ON DELETE CASCADE,
                words TEXT NOT NULL,
                document tsvector GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED);
            CREATE INDEX record_text_search ON record_text USING GIN (document);
            CREATE TABLE run (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                model_name TEXT COLLATE "C" NOT NULL,
                model_version TEXT COLLATE "C" NOT NULL,
                model_weights TEXT COLLATE "C" NOT NULL DEFAULT '',
                tasks TEXT NOT NULL,
                settings TEXT COLLATE "C" NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                UNIQUE (model_name, model_version, model_weights, settings));
            CREATE TABLE annotated (
                record_id BIGINT NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                fingerprint TEXT NOT NULL,
                linkers TEXT COLLATE "C" NOT NULL DEFAULT '',
                PRIMARY KEY (record_id, run_id));
            CREATE TABLE entity (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                record_id BIGINT NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                passage BIGINT NOT NULL,
                type TEXT COLLATE "C" NOT NULL,
                start BIGINT NOT NULL,
                "end" BIGINT NOT NULL,
                text TEXT COLLATE "C" NOT NULL,
                normalized TEXT COLLATE "C" NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                merged_into BIGINT);
            CREATE INDEX entity_by_value ON entity (run_id, type, normalized);
            CREATE INDEX entity_by_record ON entity (record_id, run_id);
            CREATE INDEX entity_by_type_value ON entity (type, normalized);
            CREATE TABLE entity_concept (
                entity_id BIGINT NOT NULL REFERENCES entity(id) ON DELETE CASCADE,
                position BIGINT NOT NULL,
                concept_id TEXT COLLATE "C" NOT NULL,
                concept_name TEXT COLLATE "C" NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (entity_id, position));
            CREATE INDEX entity_concept_by_id ON entity_concept (lower(concept_id));
            CREATE TABLE reject (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                record_key TEXT COLLATE "C",
                location TEXT COLLATE "C" NOT NULL,
                reason TEXT NOT NULL,
                UNIQUE (run_id, location));
            """),
        // The work queue: a batch is a set of records; `biotag worker` leases one at a time.
        ("v2-queue", """
            CREATE TABLE batch (
                id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                source TEXT NOT NULL,
                records BIGINT[] NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                worker TEXT,
                leased_until TIMESTAMPTZ,
                error TEXT,
                run_id BIGINT REFERENCES run(id) ON DELETE SET NULL,
                enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                done_at TIMESTAMPTZ);
            CREATE INDEX batch_open ON batch (id) WHERE state IN ('pending', 'leased');
            CREATE INDEX batch_done ON batch (done_at) WHERE state = 'done';
            """),
        // Relations between a record's concepts (a relation head's, two arguments each).
        ("v3-relations", """
            CREATE TABLE relation (
                record_id BIGINT NOT NULL REFERENCES record(id) ON DELETE CASCADE,
                run_id BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                type TEXT COLLATE "C" NOT NULL,
                first_role TEXT COLLATE "C" NOT NULL,
                first_concept TEXT COLLATE "C" NOT NULL,
                second_role TEXT COLLATE "C" NOT NULL,
                second_concept TEXT COLLATE "C" NOT NULL,
                score DOUBLE PRECISION NOT NULL);
            CREATE INDEX relation_by_record ON relation (record_id, run_id);
            CREATE INDEX relation_by_type ON relation (type);
            """),
    ]
}

/// A statement the server did not answer in time; the connection is closed.
struct PostgresTimeout: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "PostgreSQL did not answer within \(seconds.formatted()) s; the connection is closed" }
}

/// Statements on the PostgreSQL connection: `?` placeholders numbered `$1`, `$2`, … (outside
/// quoted strings), values bound with their types, cells read back as `SQLValue`s.
struct PostgresSQL: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let timeout: Double
    var dialect: SQLDialect { .postgres }

    func execute(_ sql: String, _ values: [SQLValue]) throws {
        _ = try run(sql, values)
    }

    func rows(_ sql: String, _ values: [SQLValue]) throws -> [SQLRow] {
        let result = try run(sql, values)
        guard let first = result.rows.first else { return [] }
        var columns: [String: Int] = [:]
        for (index, cell) in first.enumerated() where columns[cell.columnName] == nil { columns[cell.columnName] = index }
        return try result.rows.map { row in SQLRow(columns: columns, values: try row.map(Self.value)) }
    }

    private func run(_ sql: String, _ values: [SQLValue]) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case let .text(text): bindings.append(Self.storable(text))
            case let .integer(integer): bindings.append(integer)
            case let .real(real): bindings.append(real)
            case .null: bindings.appendNull()
            case let .texts(texts): bindings.append(texts.map(Self.storable))
            case let .integers(integers): bindings.append(integers)
            case let .reals(reals): bindings.append(reals)
            }
        }
        let answer = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        connection.query(PostgresQuery(unsafeSQL: Self.numbered(sql), binds: bindings), logger: logger).cascade(to: answer)
        let seconds = timeout, connection = connection
        let deadline = connection.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            answer.fail(PostgresTimeout(seconds: seconds))
            let _: EventLoopFuture<Void> = connection.close()
        }
        defer { deadline.cancel() }
        return try answer.futureResult.wait()
    }

    /// PostgreSQL's text cannot hold U+0000; U+FFFD takes its place (one scalar for one, so
    /// offsets stay true). A search value holding it could match nothing stored anyway.
    static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .numeric: return .real(Double(try cell.decode(String.self)) ?? .nan)
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// `?` → `$1`, `$2`, … outside single-quoted strings and double-quoted names.
    static func numbered(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var out = "", count = 0, quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                out.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                out.append(character)
            } else if character == "?" {
                count += 1
                out += "$\(count)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}
