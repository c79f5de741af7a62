import Annotation
import ArgumentParser
import Catalog
import CommandLineSupport
import Foundation
import Models

/// The work queue lives in PostgreSQL: every command that uses it checks its `--store` first.
private func queueCatalog(_ store: String, queryTimeout: Double = 600) throws -> PostgresCatalog {
    guard PostgresCatalog.isURL(store) else {
        throw ValidationError("\(store): the work queue lives in a PostgreSQL catalog (--store postgres://user@host/db); a SQLite catalog is filled by `biotag annotate --store`")
    }
    do { return try PostgresCatalog(url: store, queryTimeout: queryTimeout) } catch { throw CommandError(error.description) }
}

struct Enqueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record input files in a PostgreSQL catalog as batches of records for `biotag worker`s to annotate.",
        discussion: """
            Each record is stored once (a record already in the catalog with the same id and text is left as it is; with \
            other text it is replaced and its entities dropped), and every --batch-size records become one pending batch. \
            Workers on any machine that reaches the database then share the batches. Records that cannot be read are \
            reported with their place and skipped. Enqueueing a file again adds its batches again; workers skip the \
            records their run already holds with the same text, so nothing is stored twice.
            """)

    @Argument(help: ArgumentHelp("Input files.", valueName: "file"))
    var inputs: [String] = []

    @Option(help: ArgumentHelp("The PostgreSQL catalog.", valueName: "postgres://user@host/db"))
    var store: String

    @OptionGroup var input: InputOptions

    @Option(help: ArgumentHelp("Records per batch.", discussion: "A batch is what one worker annotates and commits in one transaction; a worker that dies loses at most one batch of work, which another worker then does."))
    var batchSize = 256

    @Flag(help: "Put the batches parked as failed back in the queue (with no attempts counted), then exit unless files are given.")
    var retryFailed = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard !inputs.isEmpty || retryFailed else { throw ValidationError("give the input files to enqueue (or --retry-failed)") }
        for input in inputs {
            guard FileManager.default.isReadableFile(atPath: input) else { throw ValidationError("\(input): no such readable file") }
            _ = try self.input.format(of: input)
        }
    }

    func run() throws {
        let catalog = try queueCatalog(store)
        if retryFailed {
            do { print("\(try catalog.retryFailed()) failed batches back in the queue") } catch { throw CommandError(error.description) }
        }
        var ids = RecordIds()
        var records = 0, batches = 0, rejects = 0
        func rejected(_ reject: Reject) {
            rejects += 1
            printError("rejected \(reject.id.map { "'\($0)' " } ?? "")at \(reject.location): \(reject.reason)")
        }
        for path in inputs {
            var reader: any DocumentReader
            let format = try input.format(of: path)
            do { reader = try makeReader(format: format, path: path, textFields: input.fields, idField: input.idField) } catch {
                throw CommandError(error.description)
            }
            var pending: [Document] = [], first = 1, ordinal = 0
            func flush() throws {
                guard !pending.isEmpty else { return }
                do { try catalog.enqueue(pending, source: "\(path), records \(first)-\(ordinal)") } catch { throw CommandError(error.description) }
                records += pending.count
                batches += 1
                pending.removeAll(keepingCapacity: true)
                first = ordinal + 1
            }
            while true {
                let item: ReadItem?
                do { item = try reader.next() } catch { throw CommandError("\(error)") }
                guard let item else { break }
                ordinal += 1
                let place = "\(path), record \(ordinal)"
                switch item {
                case let .document(document):
                    if let duplicate = ids.reject(document, at: place) {
                        rejected(duplicate)
                        continue
                    }
                    pending.append(document)
                    if pending.count >= batchSize { try flush() }
                case let .rejected(reject):
                    rejected(reject)
                }
            }
            try flush()
        }
        guard !inputs.isEmpty else { return }
        if records == 0, rejects > 0 { throw CommandError("every record was rejected (\(rejects)): nothing was enqueued") }
        print("enqueued \(records) records in \(batches) batches\(rejects > 0 ? " (\(rejects) rejected)" : "") into \(catalog.location)")
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Annotate the batches of a PostgreSQL catalog's work queue, beside any number of other workers.",
        discussion: """
            Claims one batch at a time (SELECT … FOR UPDATE SKIP LOCKED) with a lease it renews while it works, annotates \
            it with the annotation job, and commits the entities and the batch's completion in one transaction, only if \
            it still holds the lease. A worker killed at any point loses its batch's work and nothing else: the lease \
            runs out and another worker does the batch again; no batch is stored twice. A batch that fails or loses its \
            lease --max-attempts times is parked as failed with its error (`biotag status`). The worker exits when no \
            batch is pending or leased (with --keep-waiting it waits for more); SIGTERM or SIGINT let it finish its \
            batch first.
            """)

    @Option(help: ArgumentHelp("The PostgreSQL catalog holding the queue.", valueName: "postgres://user@host/db"))
    var store: String

    @Option(help: ArgumentHelp("Model directory with token-classification heads (default: the default model, as `biotag annotate`)."))
    var model: String?

    @Option(help: ArgumentHelp("Comma-separated heads to run (default: all).", valueName: "names"))
    var tasks: String?

    @OptionGroup var pipeline: PipelineOptions

    @OptionGroup var linking: EntityLinkingOptions

    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Seconds a claimed batch stays this worker's without a renewal.", discussion: "Renewed every third of it while the batch is annotated; a worker that dies leaves its batch to others after at most this long."))
    var lease: Double = 120

    @Option(help: "Leases a batch gets before it is parked as failed (each failure or lost lease counts one).")
    var maxAttempts = 3

    @Option(help: "Seconds between looks at the queue while other workers hold every remaining batch.")
    var poll: Double = 5

    @Option(help: ArgumentHelp("This worker's name in the queue (default: host:pid).", valueName: "name"))
    var name: String?

    @Flag(help: "Keep waiting for new batches when the queue is empty, instead of exiting.")
    var keepWaiting = false

    @Option(help: "The longest record annotated, in characters over all its fields; a longer one is rejected.")
    var maxRecordChars = 2_000_000

    @Flag(help: "No line per batch on stderr.")
    var quiet = false

    func validate() throws {
        guard lease >= 3, lease.isFinite else { throw ValidationError("--lease must be at least 3 seconds, got \(lease)") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1, got \(maxAttempts)") }
        guard poll > 0, poll.isFinite else { throw ValidationError("--poll must be a positive number of seconds, got \(poll)") }
        guard maxRecordChars >= 1 else { throw ValidationError("--max-record-chars must be at least 1, got \(maxRecordChars)") }
        if let tasks, commaList(tasks).allSatisfy(\.isEmpty) { throw ValidationError("--tasks names no head: give one or more, comma-separated, or leave it out for all") }
    }

    func run() throws {
        let stop = StopRequest()
        // A database that stops answering (a host down, a network cut) fails the worker within a
        // lease, for its supervisor to restart, rather than holding it for ever.
        let catalog = try queueCatalog(store, queryTimeout: lease)
        // Renewals go over a connection of their own: the main one may be busy committing.
        let renewals = try queueCatalog(store, queryTimeout: lease)
        let setup = try AnnotationSetup(model: model, tasks: tasks, pipeline: pipeline, runtime: runtime, linking: linking)
        let annotator = setup.annotator, linker = setup.linker
        defer { annotator.shutdown() }
        let linkers = linker?.linkers.fingerprint() ?? ""
        let sink: CatalogSink
        do { sink = try CatalogSink(catalog: catalog, annotator: annotator, linkers: linkers) } catch { throw CommandError(error.description) }
        let me = name ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
        var total = 0
        do {
            while !stop.requested {
                guard let batch = try catalog.claim(worker: me, lease: lease, maxAttempts: maxAttempts) else {
                    if !keepWaiting, try !catalog.hasOpenBatches() { break }
                    stop.sleep(seconds: poll)
                    continue
                }
                let started = Date()
                let keeper = LeaseKeeper(catalog: renewals, batch: batch.id, worker: me, lease: lease)
                let collected = CollectedDocuments()
                let job = AnnotationJob(annotator: annotator, sinks: [collected], completed: sink, linking: linker, chunk: max(1, batch.documents.count))
                job.maxRecordCharacters = maxRecordChars
                do {
                    for (index, document) in batch.documents.enumerated() {
                        try job.consume(.document(document), place: "batch \(batch.id) (\(batch.source)), record \(index + 1)")
                    }
                    try job.flush()
                } catch {
                    keeper.stop()
                    printError("batch \(batch.id) (\(batch.source)), attempt \(batch.attempt): \(error.description)")
                    try catalog.release(batch: batch.id, worker: me, error: error.description, maxAttempts: maxAttempts)
                    continue
                }
                keeper.stop()
                let annotated = Date()
                let stored = try catalog.complete(batch: batch.id, worker: me, run: sink.run, documents: collected.documents, rejects: collected.rejects, linkers: linkers)
                total += stored ? collected.documents.count : 0
                if !quiet {
                    let seconds = String(format: "%.2f s annotating, %.3f s storing", annotated.timeIntervalSince(started), Date().timeIntervalSince(annotated))
                    printError(stored
                        ? "batch \(batch.id): \(collected.documents.count) records annotated (\(job.summary.skipped) already done, \(collected.rejects.count) rejected), \(job.summary.entityCount) entities, \(seconds)"
                        : "batch \(batch.id): its lease ran out and another worker holds it; nothing stored")
                }
            }
        } catch {
            throw CommandError(error.description)
        }
        if !quiet { printError("worker \(me): \(total) records annotated; \(stop.requested ? "stopped on request" : "the queue is empty")") }
    }
}

/// SIGTERM and SIGINT ask the worker to stop after its batch (a Kubernetes pod's shutdown), rather
/// than losing the batch's work.
private final class StopRequest: Sendable {
    private let flag = Flag()
    private let wake = DispatchSemaphore(value: 0)
    nonisolated(unsafe) private var sources: [any DispatchSourceSignal] = []

    init() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [flag, wake] in
                flag.set()
                wake.signal()
            }
            source.resume()
            sources.append(source)
        }
    }

    var requested: Bool { flag.isSet }

    /// Waits `seconds`, or less if a stop is requested meanwhile.
    func sleep(seconds: Double) { _ = wake.wait(timeout: .now() + seconds) }

    private final class Flag: Sendable {
        private let lock = NSLock()
        nonisolated(unsafe) private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }
}

/// Renews a batch's lease every third of it on its own thread until stopped, or until the
/// renewal fails (the lease was lost; `complete` then stores nothing).
private final class LeaseKeeper: Sendable {
    private let stopRequest = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(catalog: PostgresCatalog, batch: Int64, worker: String, lease: Double) {
        Thread.detachNewThread { [stopRequest, finished] in
            while stopRequest.wait(timeout: .now() + lease / 3) == .timedOut {
                guard (try? catalog.renew(batch: batch, worker: worker, lease: lease)) == true else { break }
            }
            finished.signal()
        }
    }

    func stop() {
        stopRequest.signal()
        finished.wait()
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a PostgreSQL catalog's work queue: batches and records pending, leased, done and failed, the rate and the time left.")

    @Option(help: ArgumentHelp("The PostgreSQL catalog holding the queue.", valueName: "postgres://user@host/db"))
    var store: String

    @Flag(help: "Print one JSON object (keys pending, leased, done, failed: batches; *_records; records_per_second; eta_seconds; workers; failures).")
    var json = false

    @Option(help: "Seconds over which the rate is measured.")
    var window: Double = 300

    func validate() throws {
        guard window > 0, window.isFinite else { throw ValidationError("--window must be a positive number of seconds, got \(window)") }
    }

    func run() throws {
        let catalog = try queueCatalog(store)
        let status: QueueStatus
        do { status = try catalog.queueStatus(window: window) } catch { throw CommandError(error.description) }
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(status), as: UTF8.self))
            return
        }
        print("state      batches    records")
        for (state, batches, records) in [("pending", status.pending, status.pendingRecords), ("leased", status.leased, status.leasedRecords),
                                          ("done", status.done, status.doneRecords), ("failed", status.failed, status.failedRecords)] {
            print(state.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: "%10d %10d", batches, records))
        }
        if let rate = status.recordsPerSecond {
            print(String(format: "rate: %.1f records/s", rate) + (status.etaSeconds.map { ", about \(Self.duration($0)) left" } ?? ""))
        }
        if !status.workers.isEmpty { print("workers holding a lease: \(status.workers.joined(separator: ", "))") }
        for failure in status.failures {
            print("failed batch \(failure.batch) (\(failure.source)) after \(failure.attempts) attempts: \(failure.error)")
        }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }
}
