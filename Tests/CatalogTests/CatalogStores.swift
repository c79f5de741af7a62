import Catalog
import Foundation
import Testing

/// The catalogs every catalog test runs on: SQLite always; PostgreSQL when `BIOTAG_TEST_POSTGRES`
/// gives a server's URL (`make test` starts one with Tests/postgres/server.sh), each test in a new
/// database of its own.
enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static var postgresURL: String? { ProcessInfo.processInfo.environment["BIOTAG_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 } }

    static var available: [StoreKind] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    var testDescription: String { rawValue }

    func make() throws -> any AnnotationCatalog {
        switch self {
        case .sqlite:
            return try SQLiteCatalog(path: FileManager.default.temporaryDirectory.appendingPathComponent("biotag-catalog-\(UUID().uuidString).db").path)
        case .postgres:
            return try Self.newPostgres()
        }
    }

    static func newPostgres() throws -> PostgresCatalog { try PostgresCatalog(url: try newPostgresDatabase()) }

    /// A new database on the test server: its URL.
    static func newPostgresDatabase() throws -> String {
        let server = try PostgresCatalog(url: try #require(postgresURL))
        return try server.createDatabase("t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
    }
}

@Suite struct CatalogStoreTests {
    /// `make test` sets BIOTAG_REQUIRE_POSTGRES=1: there the PostgreSQL tests must not be skipped.
    @Test func postgresIsThereWhenRequired() {
        if ProcessInfo.processInfo.environment["BIOTAG_REQUIRE_POSTGRES"] == "1" {
            #expect(StoreKind.postgresURL != nil, "BIOTAG_REQUIRE_POSTGRES=1 but BIOTAG_TEST_POSTGRES names no server")
        }
    }

    @Test func badURLsAreClearErrors() {
        for (url, message) in [("postgres://u@h", "names no database"), ("postgres://u@h/db?sslmode=require", "TLS"), ("postgres://u@h/db?bogus=1", "unknown URL parameter"),
                               ("postgres://u@/db?host=/nonexistent-dir", "cannot connect")] {
            #expect(throws: CatalogError.self) { try PostgresCatalog(url: url) }
            do { _ = try PostgresCatalog(url: url) } catch { #expect("\(error)".contains(message), "\(url): \(error)") }
        }
        #expect(PostgresCatalog.isURL("postgresql://x/y") && !PostgresCatalog.isURL("catalog.db"))
    }
}
