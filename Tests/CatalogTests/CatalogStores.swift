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
        for (url, message) in [("postgres://u@h", "names no database"), ("postgres://u@/db?sslmode=require", "needs a TCP host"), ("postgres://u@h/db?sslmode=bogus", "expected one of"),
                               ("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent.crt", "no such readable file"), ("postgres://u@h/db?bogus=1", "unknown URL parameter"),
                               ("postgres://u@/db?host=/nonexistent-dir", "cannot connect")] {
            #expect(throws: CatalogError.self) { try PostgresCatalog(url: url) }
            do { _ = try PostgresCatalog(url: url) } catch { #expect("\(error)".contains(message), "\(url): \(error)") }
        }
        #expect(PostgresCatalog.isURL("postgresql://x/y") && !PostgresCatalog.isURL("catalog.db"))
    }

    /// A statement left unanswered fails after the timeout, saying so, instead of blocking.
    @Test(.enabled(if: StoreKind.postgresURL != nil, "needs BIOTAG_TEST_POSTGRES"))
    func unansweredStatementsTimeOut() throws {
        let catalog = try PostgresCatalog(url: try #require(StoreKind.postgresURL), queryTimeout: 1)
        let started = Date()
        #expect(throws: CatalogError.self) { try catalog.read { c in try c.execute("SELECT pg_sleep(5)") } }
        do { try catalog.read { c in try c.execute("SELECT pg_sleep(5)") } } catch { #expect("\(error)".contains("did not answer within 1 s") || "\(error)".contains("closed"), "\(error)") }
        #expect(Date().timeIntervalSince(started) < 4.5)
    }

    /// `make test`'s server also listens on 127.0.0.1 with TLS and a certificate of its own.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BIOTAG_TEST_POSTGRES_TLS"] != nil, "needs BIOTAG_TEST_POSTGRES_TLS"))
    func tlsIsUsedAndVerifiedAsAsked() throws {
        let url = try #require(ProcessInfo.processInfo.environment["BIOTAG_TEST_POSTGRES_TLS"])
        let encrypted = try PostgresCatalog(url: url).read { c in try c.row("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])?.int64("ssl") }
        #expect(encrypted == 1)
        // verify-full refuses a certificate no trusted CA signed, saying why; trusting it, connects.
        let full = url.replacingOccurrences(of: "sslmode=require", with: "sslmode=verify-full")
        #expect(throws: CatalogError.self) { try PostgresCatalog(url: full) }
        do { _ = try PostgresCatalog(url: full) } catch { #expect("\(error)".contains("CERTIFICATE_VERIFY_FAILED"), "\(error)") }
        let socketURL = try #require(StoreKind.postgresURL)
        let directory = try #require(URLComponents(string: socketURL)?.queryItems?.first { $0.name == "host" }?.value)
        #expect(throws: Never.self) { try PostgresCatalog(url: full + "&sslrootcert=\(directory)/server.crt") }
    }
}
