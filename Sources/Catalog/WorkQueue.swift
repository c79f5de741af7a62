import Annotation
import Foundation

/// A batch a worker holds: its records, to annotate and then complete before the lease runs out.
public struct ClaimedBatch: Sendable {
    public var id: Int64
    /// The input it was read from (file and record numbers), for messages.
    public var source: String
    /// This is the batch's `attempt`-th lease (1 the first time).
    public var attempt: Int
    public var documents: [Document]
}

/// The queue at a glance (`biotag status`): batches and records per state, the rate of the last
/// minutes and what remains at that rate.
public struct QueueStatus: Sendable, Codable, Equatable {
    public struct Failure: Sendable, Codable, Equatable {
        public var batch: Int64
        public var source: String
        public var attempts: Int
        public var error: String
    }

    public var pending = 0, leased = 0, done = 0, failed = 0
    public var pendingRecords = 0, leasedRecords = 0, doneRecords = 0, failedRecords = 0
    /// Records completed per second over the last `window` seconds (or since the first lease, if
    /// later); nil before any batch is done.
    public var recordsPerSecond: Double?
    /// Seconds until the pending and leased records are done at that rate.
    public var etaSeconds: Double?
    /// Workers holding a lease now.
    public var workers: [String] = []
    /// Parked batches with their last error (the first 20).
    public var failures: [Failure] = []

    enum CodingKeys: String, CodingKey {
        case pending, leased, done, failed, workers, failures
        case pendingRecords = "pending_records", leasedRecords = "leased_records", doneRecords = "done_records", failedRecords = "failed_records"
        case recordsPerSecond = "records_per_second", etaSeconds = "eta_seconds"
    }
}

/// What one batch gave: the annotated documents and the records that could not be annotated.
public final class CollectedDocuments: DocumentSink {
    public private(set) var documents: [Document] = []
    public private(set) var rejects: [Reject] = []

    public init() {}

    public func write(_ documents: [Document], model: ModelIdentity) throws { self.documents += documents }
    public func reject(_ reject: Reject) throws { rejects.append(reject) }
}

/// The work queue in the PostgreSQL catalog. `enqueue` records the input's records and one batch
/// per `--batch-size` of them; a worker `claim`s a batch with `SELECT … FOR UPDATE SKIP LOCKED`
/// and a lease it `renew`s while it works, then `complete`s it: the entities, the rejects and the
/// batch's state are committed in one transaction, and only by the worker that still holds the
/// lease, so each batch is stored exactly once whenever a worker dies. A lease that runs out makes
/// the batch claimable again; a batch that failed or lost its lease `maxAttempts` times is parked
/// as failed with its error.
extension PostgresCatalog {
    /// Records the documents (a record already there with the same text is kept as it is, with
    /// changed text it is replaced and its entities dropped) and one pending batch of them.
    /// - Returns: the batch's id.
    @discardableResult
    public func enqueue(_ documents: [Document], source: String) throws(CatalogError) -> Int64 {
        try write { c in
            let ids = try documents.map { try Self.record($0, c) }
            return try c.row("INSERT INTO batch (source, records) VALUES (?, ?::bigint[]) RETURNING id",
                             [.text(source), .integers(ids)])!.int64("id")
        }
    }

    /// Leases the oldest claimable batch (pending, or leased and past its lease) to `worker` for
    /// `lease` seconds, or returns nil when none is. Batches whose lease ran out `maxAttempts` times
    /// are parked as failed first.
    public func claim(worker: String, lease: Double, maxAttempts: Int) throws(CatalogError) -> ClaimedBatch? {
        try write { c in
            try c.execute("""
                UPDATE batch SET state = 'failed', worker = NULL, leased_until = NULL,
                    error = 'its lease ran out ' || attempts || ' times: the workers holding it stopped (killed, out of memory) or took longer than --lease'
                WHERE state = 'leased' AND leased_until < now() AND attempts >= ?
                """, [.integer(Int64(maxAttempts))])
            guard let row = try c.row("""
                UPDATE batch SET state = 'leased', worker = ?, attempts = attempts + 1, leased_until = now() + make_interval(secs => ?)
                WHERE id = (SELECT id FROM batch WHERE state = 'pending' OR (state = 'leased' AND leased_until < now())
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, source, attempts, records::text AS records
                """, [.text(worker), .real(lease)]) else { return nil }
            let ids = try row.text("records").trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").compactMap { Int64($0) }
            var byId: [Int64: Document] = [:]
            for record in try c.rows("SELECT id, key, passages FROM record WHERE id = ANY(?::bigint[])", [.integers(ids)]) {
                byId[try record.int64("id")] = Document(id: try record.text("key"), passages: try Self.passages(fromJSON: try record.text("passages")))
            }
            return ClaimedBatch(id: try row.int64("id"), source: try row.text("source"), attempt: try row.int("attempts"), documents: ids.compactMap { byId[$0] })
        }
    }

    /// Extends `worker`'s lease on a batch. False when the worker no longer holds it (its lease ran
    /// out and another worker claimed it): whatever it did with the batch must not be stored.
    public func renew(batch: Int64, worker: String, lease: Double) throws(CatalogError) -> Bool {
        try write { c in
            try c.row("UPDATE batch SET leased_until = now() + make_interval(secs => ?) WHERE id = ? AND worker = ? AND state = 'leased' RETURNING id",
                      [.real(lease), .integer(batch), .text(worker)]) != nil
        }
    }

    /// Stores a batch's annotated documents and rejects for `run` and marks it done, in one
    /// transaction, if `worker` still holds it; otherwise stores nothing and returns false.
    public func complete(batch: Int64, worker: String, run: Int64, documents: [Document], rejects: [Reject], linkers: String) throws(CatalogError) -> Bool {
        try write { c in
            // The row lock keeps every other worker from claiming it until this commits.
            guard try c.row("SELECT id FROM batch WHERE id = ? AND worker = ? AND state = 'leased' FOR UPDATE", [.integer(batch), .text(worker)]) != nil else { return false }
            try Self.store(documents, run: run, linkers: linkers, c)
            for reject in rejects { try Self.reject(reject, run: run, c) }
            try c.execute("UPDATE batch SET state = 'done', done_at = now(), leased_until = NULL, error = NULL, run_id = ? WHERE id = ?", [.integer(run), .integer(batch)])
            return true
        }
    }

    /// Gives a batch back after a failure: pending again, or parked as failed with `error` once it
    /// has had `maxAttempts` leases.
    public func release(batch: Int64, worker: String, error: String, maxAttempts: Int) throws(CatalogError) {
        try write { c in
            try c.execute("""
                UPDATE batch SET state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END, error = ?, worker = NULL, leased_until = NULL
                WHERE id = ? AND worker = ? AND state = 'leased'
                """, [.integer(Int64(maxAttempts)), .text(error), .integer(batch), .text(worker)])
        }
    }

    /// Whether any batch is pending or leased (a worker with nothing to claim waits while others
    /// hold batches whose leases may run out). One index probe, cheap to ask every few seconds.
    public func hasOpenBatches() throws(CatalogError) -> Bool {
        try read { c in try c.row("SELECT EXISTS (SELECT 1 FROM batch WHERE state IN ('pending', 'leased')) AS open", [])?.int64("open") == 1 }
    }

    /// Puts every failed batch back in the queue with no attempts counted.
    /// - Returns: how many.
    public func retryFailed() throws(CatalogError) -> Int {
        try write { c in
            try c.rows("UPDATE batch SET state = 'pending', attempts = 0, error = NULL WHERE state = 'failed' RETURNING id", []).count
        }
    }

    /// Batches and records per state, the rate over the last `window` seconds and the time left.
    public func queueStatus(window: Double = 300) throws(CatalogError) -> QueueStatus {
        try read { c in
            var status = QueueStatus()
            for row in try c.rows("SELECT state, COUNT(*) AS batches, COALESCE(SUM(cardinality(records)), 0) AS records FROM batch GROUP BY state", []) {
                let batches = try row.int("batches"), records = try row.int("records")
                switch try row.text("state") {
                case "pending": (status.pending, status.pendingRecords) = (batches, records)
                case "leased": (status.leased, status.leasedRecords) = (batches, records)
                case "done": (status.done, status.doneRecords) = (batches, records)
                default: (status.failed, status.failedRecords) = (batches, records)
                }
            }
            // Recent rate: records done in the window over the window, or over the time since the
            // first batch was done if that is shorter (plus that batch's own time, unknown: the
            // first minutes read a little high).
            if let row = try c.row("""
                SELECT COALESCE(SUM(cardinality(records)) FILTER (WHERE done_at > now() - make_interval(secs => ?)), 0) AS recent,
                       EXTRACT(EPOCH FROM now() - MIN(done_at))::float8 AS since_first,
                       EXTRACT(EPOCH FROM MAX(done_at) - MIN(done_at))::float8 AS span, COUNT(*) AS batches
                FROM batch WHERE state = 'done'
                """, [.real(window)]), try row.int("batches") > 0 {
                let recent = try row.double("recent"), sinceFirst = try row.double("since_first")
                let remaining = Double(status.pendingRecords + status.leasedRecords)
                if remaining > 0, recent > 0 {
                    status.recordsPerSecond = recent / max(1, min(window, sinceFirst))
                } else if try row.int("batches") > 1 {
                    status.recordsPerSecond = Double(status.doneRecords) / max(1, try row.double("span"))
                }
                if let rate = status.recordsPerSecond, rate > 0 { status.etaSeconds = remaining / rate }
            }
            status.workers = try c.rows("SELECT DISTINCT worker FROM batch WHERE state = 'leased' AND leased_until >= now() ORDER BY worker", []).map { try $0.text("worker") }
            status.failures = try c.rows("SELECT id, source, attempts, COALESCE(error, '') AS error FROM batch WHERE state = 'failed' ORDER BY id LIMIT 20", []).map {
                QueueStatus.Failure(batch: try $0.int64("id"), source: try $0.text("source"), attempts: try $0.int("attempts"), error: try $0.text("error"))
            }
            return status
        }
    }
}
