import Annotation
import Catalog
import Foundation
import Testing
import TestSupport

/// `biotag enqueue`, `worker` and `status` end to end against a real PostgreSQL server (where
/// BIOTAG_TEST_POSTGRES names one: always under `make test`), with the untrained test model.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BIOTAG_TEST_POSTGRES"] != nil, "needs BIOTAG_TEST_POSTGRES"))
struct WorkerCommandTests {
    static func newDatabase() throws -> String {
        let server = try PostgresCatalog(url: try #require(ProcessInfo.processInfo.environment["BIOTAG_TEST_POSTGRES"]))
        return try server.createDatabase("w_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
    }

    static func status(_ url: String) throws -> [String: Any] {
        let result = try BiotagCommand.run(["status", "--store", url, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    }

    static func worker(_ url: String, name: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BiotagCommand.executable)
        process.arguments = ["worker", "--store", url, "--model", TestModels.twoHeads, "--quiet", "--lease", "3", "--poll", "0.2", "--threads", "1", "--workers", "1", "--name", name]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// A worker killed with SIGKILL while it holds a batch loses that batch's work and nothing
    /// else: the others finish the queue, and the catalog ends with exactly what one
    /// uninterrupted SQLite run stores.
    @Test func aKilledWorkerLosesNothingAndStoresNothingTwice() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = "\(directory)/many.jsonl"
        try (0..<1500).map { i in
            String(decoding: try JSONSerialization.data(withJSONObject: ["id": "rec-\(i)", "text": AnnotateCommandTests.texts[i % 3] + " Record \(i) of the cohort."]), as: UTF8.self)
        }.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let clean = "\(directory)/clean.db"
        #expect(try AnnotateCommandTests.annotate([input, "--store", clean]).status == 0)

        let url = try Self.newDatabase()
        let enqueued = try BiotagCommand.run(["enqueue", "--store", url, "--batch-size", "50", input])
        #expect(enqueued.status == 0 && enqueued.output.contains("1500 records in 30 batches"), "\(enqueued.output)\(enqueued.stderr)")
        #expect(try Self.status(url)["pending"] as? Int == 30)

        let first = try Self.worker(url, name: "first")
        let deadline = Date().addingTimeInterval(120)
        while first.isRunning, Date() < deadline, (try Self.status(url)["done"] as? Int ?? 0) < 5 { usleep(50_000) }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let killedAt = try Self.status(url)
        #expect((killedAt["done"] as? Int ?? 0) < 30, "the worker finished before it was killed")
        let others = try [Self.worker(url, name: "second"), Self.worker(url, name: "third")]
        for other in others { other.waitUntilExit() }
        #expect(others.allSatisfy { $0.terminationStatus == 0 })

        let status = try Self.status(url)
        #expect(status["done"] as? Int == 30 && status["leased"] as? Int == 0 && status["pending"] as? Int == 0 && status["failed"] as? Int == 0, "\(status)")
        let queue = try PostgresCatalog(url: url), reference = try SQLiteCatalog(path: clean)
        let runs = try queue.runs(), expected = try reference.runs()
        #expect(runs.map(\.records) == expected.map(\.records) && runs.map(\.entities) == expected.map(\.entities))
        for i in stride(from: 0, to: 1500, by: 37) {
            #expect(try queue.document(key: "rec-\(i)", run: runs[0].id) == reference.document(key: "rec-\(i)", run: expected[0].id), "rec-\(i)")
        }
        // Search answers from the shared catalog as from the file.
        let search = try BiotagCommand.run(["search", "--store", url, "--json", "--no-link", "cisplatin"])
        #expect(search.status == 0 && search.output.contains("\"total\" : 500"), "\(search.stderr)")
    }

    @Test func wrongStoresAndBadInputAreClearErrors() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sqlite = try BiotagCommand.run(["worker", "--store", "\(directory)/catalog.db", "--model", TestModels.twoHeads])
        #expect(sqlite.status != 0 && sqlite.stderr.contains("PostgreSQL"), "\(sqlite.stderr)")
        let unreachable = try BiotagCommand.run(["status", "--store", "postgres://nobody@/nowhere?host=\(directory)"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot connect"), "\(unreachable.stderr)")

        let url = try Self.newDatabase()
        let input = "\(directory)/mixed.jsonl"
        try "{\"id\": \"a\", \"text\": \"Aspirin.\"}\nnot json\n{\"id\": \"a\", \"text\": \"Again.\"}\n{\"id\": \"b\", \"text\": \"Liver.\"}\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let enqueued = try BiotagCommand.run(["enqueue", "--store", url, input])
        #expect(enqueued.status == 0 && enqueued.output.contains("2 records in 1 batches (2 rejected)"), "\(enqueued.output)")
        #expect(enqueued.stderr.contains("mixed.jsonl:2") && enqueued.stderr.contains("duplicate id"), "\(enqueued.stderr)")
        try "not json\n".write(toFile: input, atomically: true, encoding: .utf8)
        let nothing = try BiotagCommand.run(["enqueue", "--store", url, input])
        #expect(nothing.status != 0 && nothing.stderr.contains("every record was rejected"), "\(nothing.stderr)")
    }
}
