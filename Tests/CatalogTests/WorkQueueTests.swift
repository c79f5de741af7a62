import Annotation
import Catalog
import Foundation
import Models
import Testing

/// The work queue of the PostgreSQL catalog: leases, lost leases, failures, parallel claims.
/// Runs where BIOTAG_TEST_POSTGRES names a server (always under `make test`).
@Suite(.enabled(if: StoreKind.postgresURL != nil, "needs BIOTAG_TEST_POSTGRES"))
struct WorkQueueTests {
    static func records(_ count: Int, prefix: String = "r") -> [Document] {
        (1...count).map { Document(id: "\(prefix)\($0)", passages: [Passage(text: "Record \($0) about liver fibrosis.")]) }
    }

    /// What a worker would store: each record with one entity.
    static func annotated(_ documents: [Document]) -> [Document] {
        documents.map { document in
            var copy = document
            copy.passages[0].entities = [Entity(type: "disease", start: 19, end: 33, text: "liver fibrosis", score: 0.9)]
            return copy
        }
    }

    @Test func batchesAreLeasedCompletedOnceAndStatusCounts() throws {
        let queue = try StoreKind.newPostgres()
        let documents = Self.records(10)
        try queue.enqueue(Array(documents[0..<4]), source: "f, records 1-4")
        try queue.enqueue(Array(documents[4..<8]), source: "f, records 5-8")
        try queue.enqueue(Array(documents[8...]), source: "f, records 9-10")
        var status = try queue.queueStatus()
        #expect(status.pending == 3 && status.pendingRecords == 10 && status.done == 0)

        let run = try queue.run(model: ModelIdentity(name: "m", version: "1"), tasks: ["disease"], settings: "{}")
        let a = try #require(try queue.claim(worker: "a", lease: 60, maxAttempts: 3))
        let b = try #require(try queue.claim(worker: "b", lease: 60, maxAttempts: 3))
        #expect(a.id != b.id && a.documents.map(\.id) == ["r1", "r2", "r3", "r4"] && a.attempt == 1 && a.source == "f, records 1-4")
        #expect(a.documents == Array(documents[0..<4]))
        status = try queue.queueStatus()
        #expect(status.leased == 2 && status.pending == 1 && status.workers == ["a", "b"])

        #expect(try queue.complete(batch: a.id, worker: "a", run: run, documents: Self.annotated(a.documents), rejects: [], linkers: ""))
        // Completing again, or by a worker that never held it, stores nothing.
        #expect(try !queue.complete(batch: a.id, worker: "a", run: run, documents: Self.annotated(a.documents), rejects: [], linkers: ""))
        #expect(try !queue.complete(batch: b.id, worker: "a", run: run, documents: Self.annotated(b.documents), rejects: [], linkers: ""))
        #expect(try queue.renew(batch: b.id, worker: "b", lease: 60) && !queue.renew(batch: b.id, worker: "a", lease: 60))
        let reject = Reject(id: "r6", location: "batch 2, record 2", reason: "too long")
        #expect(try queue.complete(batch: b.id, worker: "b", run: run, documents: Self.annotated(b.documents), rejects: [reject], linkers: ""))
        let c = try #require(try queue.claim(worker: "c", lease: 60, maxAttempts: 3))
        #expect(try queue.claim(worker: "d", lease: 60, maxAttempts: 3) == nil)
        #expect(try queue.complete(batch: c.id, worker: "c", run: run, documents: Self.annotated(c.documents), rejects: [], linkers: ""))

        status = try queue.queueStatus()
        #expect(status.done == 3 && status.doneRecords == 10 && status.pending == 0 && status.leased == 0 && status.workers.isEmpty)
        #expect(try queue.runs().map(\.entities) == [10] && queue.runs().map(\.records) == [10])
        #expect(try queue.rejects(run: run) == [reject])
        #expect(try queue.search(SearchQuery.parse("disease:\"liver fibrosis\"")).total == 10)
    }

    /// A worker whose lease ran out (it stalled, or died) cannot store the batch once another
    /// worker has claimed it: the batch is stored exactly once, by the holder.
    @Test func aLostLeaseStoresNothing() throws {
        let queue = try StoreKind.newPostgres()
        try queue.enqueue(Self.records(3), source: "f")
        let run = try queue.run(model: ModelIdentity(name: "m", version: "1"), tasks: ["disease"], settings: "{}")
        let slow = try #require(try queue.claim(worker: "slow", lease: 0.2, maxAttempts: 3))
        Thread.sleep(forTimeInterval: 0.5)
        let fast = try #require(try queue.claim(worker: "fast", lease: 60, maxAttempts: 3))
        #expect(fast.id == slow.id && fast.attempt == 2)
        #expect(try !queue.renew(batch: slow.id, worker: "slow", lease: 60))
        #expect(try !queue.complete(batch: slow.id, worker: "slow", run: run, documents: Self.annotated(slow.documents), rejects: [], linkers: ""))
        #expect(try queue.runs().map(\.entities) == [0])
        #expect(try queue.complete(batch: fast.id, worker: "fast", run: run, documents: Self.annotated(fast.documents), rejects: [], linkers: ""))
        #expect(try queue.runs().map(\.entities) == [3])
    }

    /// A batch that fails, or whose lease runs out, --max-attempts times is parked with its error,
    /// not retried for ever; --retry-failed puts it back.
    @Test func failingBatchesAreParkedWithTheirError() throws {
        let queue = try StoreKind.newPostgres()
        try queue.enqueue(Self.records(2), source: "f, records 1-2")
        try queue.enqueue(Self.records(2, prefix: "s"), source: "g, records 1-2")
        for attempt in 1...2 {
            let batch = try #require(try queue.claim(worker: "w", lease: 60, maxAttempts: 2))
            #expect(batch.source == "f, records 1-2" && batch.attempt == attempt)
            try queue.release(batch: batch.id, worker: "w", error: "the model failed (\(attempt))", maxAttempts: 2)
        }
        // The second batch: its lease runs out twice (a worker killed each time).
        for _ in 1...2 {
            #expect(try queue.claim(worker: "doomed", lease: 0.2, maxAttempts: 2)?.source == "g, records 1-2")
            Thread.sleep(forTimeInterval: 0.4)
        }
        #expect(try queue.claim(worker: "w", lease: 60, maxAttempts: 2) == nil)
        let status = try queue.queueStatus()
        #expect(status.failed == 2 && status.failedRecords == 4 && status.pending == 0 && status.leased == 0)
        #expect(status.failures.map(\.error) == ["the model failed (2)", "its lease ran out 2 times: the workers holding it stopped (killed, out of memory) or took longer than --lease"])
        #expect(try queue.retryFailed() == 2)
        #expect(try queue.claim(worker: "w", lease: 60, maxAttempts: 2)?.attempt == 1)
    }

    /// Workers claiming at the same moment, each over its own connection, never get the same
    /// batch (SKIP LOCKED), and together they get every batch.
    @Test func parallelClaimsNeverShareABatch() throws {
        let url = try StoreKind.newPostgresDatabase()
        let queue = try PostgresCatalog(url: url)
        let documents = Self.records(60)
        for start in stride(from: 0, to: 60, by: 3) { try queue.enqueue(Array(documents[start..<(start + 3)]), source: "f") }
        let workers = try (0..<4).map { _ in try PostgresCatalog(url: url) }
        let claimed = ClaimedIds()
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            while let batch = try? workers[index].claim(worker: "w\(index)", lease: 60, maxAttempts: 3) { claimed.add(batch.id) }
        }
        #expect(claimed.ids.count == 20 && Set(claimed.ids).count == 20)
    }
}

private final class ClaimedIds: Sendable {
    private let lock = NSLock()
    nonisolated(unsafe) private var stored: [Int64] = []
    func add(_ id: Int64) { lock.withLock { stored.append(id) } }
    var ids: [Int64] { lock.withLock { stored } }
}
