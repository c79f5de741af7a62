import Foundation
import GRDB

/// A value bound to a catalog statement. Catalogs bind every value a user or a record supplies;
/// none is ever spliced into SQL.
public enum SQLValue: Sendable, Equatable {
    case text(String), integer(Int64), real(Double), null
    /// Arrays, for PostgreSQL's `unnest` (a whole batch of rows in one statement); SQLite, in the
    /// same process, takes rows one statement each.
    case texts([String]), integers([Int64]), reals([Double])
}

/// An array value given to SQLite, which has no arrays.
struct SQLArrayError: Error, CustomStringConvertible {
    var description: String { "array values are for PostgreSQL only" }
}

/// The two databases a catalog lives in. Their statements are shared; the few places they differ
/// (full-text search, case-insensitive ids, how a placeholder is written) ask the dialect.
public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// A value that was not what the catalog's schema promises: a damaged or foreign database.
struct SQLRowError: Error, CustomStringConvertible {
    let column: String
    let expected: String
    let found: SQLValue
    var description: String { "column \(column): expected \(expected), found \(found)" }
}

/// One result row by column name; the accessors throw when a value is not of the kind asked for.
public struct SQLRow {
    let columns: [String: Int]
    let values: [SQLValue]

    public func value(_ name: String) throws -> SQLValue {
        guard let index = columns[name] else { throw SQLRowError(column: name, expected: "a column", found: .null) }
        return values[index]
    }

    public func text(_ name: String) throws -> String {
        guard case let .text(text) = try value(name) else { throw SQLRowError(column: name, expected: "text", found: try value(name)) }
        return text
    }

    public func optionalText(_ name: String) throws -> String? {
        if case .null = try value(name) { return nil }
        return try text(name)
    }

    public func int64(_ name: String) throws -> Int64 {
        switch try value(name) {
        case let .integer(value): return value
        case let .real(value) where value == value.rounded(): return Int64(value)
        case let other: throw SQLRowError(column: name, expected: "an integer", found: other)
        }
    }

    public func optionalInt64(_ name: String) throws -> Int64? {
        if case .null = try value(name) { return nil }
        return try int64(name)
    }

    public func int(_ name: String) throws -> Int { Int(try int64(name)) }

    public func double(_ name: String) throws -> Double {
        switch try value(name) {
        case let .real(value): return value
        case let .integer(value): return Double(value)
        case let other: throw SQLRowError(column: name, expected: "a number", found: other)
        }
    }
}

/// One connection (inside a transaction or a read) of either database. Statements are written
/// once with `?` placeholders; a PostgreSQL connection numbers them.
public protocol SQLConnection {
    var dialect: SQLDialect { get }
    func execute(_ sql: String, _ values: [SQLValue]) throws
    func rows(_ sql: String, _ values: [SQLValue]) throws -> [SQLRow]
}

extension SQLConnection {
    public func execute(_ sql: String) throws { try execute(sql, []) }

    public func row(_ sql: String, _ values: [SQLValue]) throws -> SQLRow? { try rows(sql, values).first }
}

/// SQLite through GRDB; statements are compiled once per connection (GRDB caches them).
struct GRDBConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    func execute(_ sql: String, _ values: [SQLValue]) throws {
        try db.cachedStatement(sql: sql).execute(arguments: try Self.arguments(values))
    }

    func rows(_ sql: String, _ values: [SQLValue]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        var columns: [String: Int] = [:]
        for (index, name) in statement.columnNames.enumerated() where columns[name] == nil { columns[name] = index }
        return try Row.fetchAll(statement, arguments: try Self.arguments(values)).map { row in
            SQLRow(columns: columns, values: (0..<row.count).map { index in
                let value: DatabaseValue = row[index]
                return switch value.storage {
                case .null: .null
                case let .int64(value): .integer(value)
                case let .double(value): .real(value)
                case let .string(value): .text(value)
                case let .blob(data): .text(String(decoding: data, as: UTF8.self))
                }
            })
        }
    }

    static func arguments(_ values: [SQLValue]) throws -> StatementArguments {
        StatementArguments(try values.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case let .text(text): text
            case let .integer(integer): integer
            case let .real(real): real
            case .null: nil
            case .texts, .integers, .reals: throw SQLArrayError()
            }
        })
    }
}
