import Annotation
import Foundation

/// Why a request got no annotation from the queue; each maps to one HTTP status.
public enum QueueError: Error, Equatable, CustomStringConvertible {
    /// The queue holds too many tokens already: come back later (429).
    case overloaded(queuedTokens: Int, limit: Int)
    /// The request alone is larger than the queue can ever hold (413).
    case tooLarge(tokens: Int, limit: Int)
    /// It waited in the queue longer than its deadline (503).
    case timedOut(waited: Duration)
    /// The server is stopping and takes no new work (503).
    case stopping
    /// The model failed (500).
    case failed(String)

    public var description: String {
        switch self {
        case let .overloaded(queued, limit): "the queue holds \(queued) tokens of its \(limit): retry shortly"
        case let .tooLarge(tokens, limit): "the request has \(tokens) tokens, more than the queue's \(limit)"
        case let .timedOut(waited): "no worker took the request within \(waited)"
        case .stopping: "the server is stopping"
        case let .failed(reason): "annotation failed: \(reason)"
        }
    }
}

/// What a request asks of the pipeline besides its documents.
public struct RequestOptions: Sendable, Hashable {
    /// Link its entities to concepts.
    public var link = true
    /// Its word aggregation (nil: the server's).
    public var aggregation: AggregationStrategy?

    public init(link: Bool = true, aggregation: AggregationStrategy? = nil) {
        self.link = link
        self.aggregation = aggregation
    }
}

/// How requests are packed together.
public struct BatchingSettings: Sendable, Equatable {
    /// Most tokens run in one call of the pipeline (requests of many clients together).
    public var maxBatchTokens = 16_384
    /// How long the first request of a batch waits for others to join it.
    public var maxWait: Duration = .milliseconds(5)
    /// While other lanes are busy, a lane takes its share of the queue (queued tokens ÷ lanes),
    /// but at least this many tokens, instead of all of it: a burst is spread over the lanes as
    /// they come free rather than landing on the first one. This cut the median half-load p99
    /// from 108 to 89 ms on 2 cores (docs/SERVICE.md); under saturation the shares are large anyway.
    public var laneShareTokens = 128
    /// Most tokens waiting; a request beyond it is refused at once (429), so memory stays flat.
    /// It bounds the wait too: at the 2-core default model's ~6,000 tokens/s, 65,536 are about
    /// 11 s of work, well inside `timeout`, so a request accepted under overload is answered.
    public var maxQueueTokens = 65_536
    /// How long a request may wait for a worker (nil: as long as it takes).
    public var timeout: Duration?

    public init() {}
}

/// Dynamic batching: requests of many clients wait a few milliseconds, are packed together up to
/// a token budget and annotated in one call of a lane's `process`. Each lane is a thread that owns
/// its pipeline (an `Annotator` serves one caller at a time), so the lanes' batches run side by
/// side: while one lane tokenizes, decodes, links or answers, another computes, and a request
/// that arrives while a batch runs is taken by an idle lane instead of waiting for that batch.
/// A lane takes only its share of what is queued (`batchLimit`), so a burst of clients keeps
/// every lane busy. Each request gets back its own documents. The pipeline's result for a document does not depend on
/// the documents it is annotated with (`PipelineTests.batchingNeverChangesTheResult`), so neither
/// does a request's answer.
///
/// The state is guarded by one `NSCondition`, which the lanes also wait on.
public final class DynamicBatcher: @unchecked Sendable {
    /// Annotates the documents of every request taken; `options[i]` is what document `i`'s
    /// request asked for.
    public typealias Process = @Sendable (_ documents: [Document], _ options: [RequestOptions]) throws -> [Document]

    private struct Pending {
        let documents: [Document]
        let tokens: Int
        let options: RequestOptions
        let arrived: ContinuousClock.Instant
        let continuation: CheckedContinuation<[Document], any Error>
    }

    /// What the batcher has done, for `/metrics`.
    public struct Counters: Sendable, Equatable {
        public var batches = 0
        public var requests = 0
        public var tokens = 0
        public var queuedTokens = 0
        public var queuedRequests = 0
    }

    public let settings: BatchingSettings
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var queuedTokens = 0
    private var stopping = false
    /// Lanes running a batch now.
    private var running = 0
    private let lanes: Int
    private var counters = Counters()
    /// Called after each batch with its request count and tokens (metrics).
    private let observe: (@Sendable (_ requests: Int, _ tokens: Int, _ seconds: Double) -> Void)?

    /// One lane.
    public convenience init(settings: BatchingSettings, observe: (@Sendable (Int, Int, Double) -> Void)? = nil, process: @escaping Process) {
        self.init(settings: settings, lanes: [process], observe: observe)
    }

    /// One lane per `Process`, each on its own thread.
    public init(settings: BatchingSettings, lanes: [Process], observe: (@Sendable (Int, Int, Double) -> Void)? = nil) {
        precondition(!lanes.isEmpty, "a batcher needs at least one lane")
        self.settings = settings
        self.observe = observe
        self.lanes = lanes.count
        // Each thread holds the batcher until `stop` ends its loop.
        for (index, process) in lanes.enumerated() {
            let thread = Thread { self.loop(process) }
            thread.name = "biotag-batcher-\(index)"
            thread.start()
        }
    }

    /// Annotates `documents` with whatever else is waiting; `tokens` is their size in wordpieces.
    public func submit(_ documents: [Document], tokens: Int, options: RequestOptions = RequestOptions()) async throws -> [Document] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Document], any Error>) in
            condition.lock()
            defer { condition.unlock() }
            if stopping { continuation.resume(throwing: QueueError.stopping); return }
            if tokens > settings.maxQueueTokens { continuation.resume(throwing: QueueError.tooLarge(tokens: tokens, limit: settings.maxQueueTokens)); return }
            if queuedTokens + tokens > settings.maxQueueTokens {
                continuation.resume(throwing: QueueError.overloaded(queuedTokens: queuedTokens, limit: settings.maxQueueTokens))
                return
            }
            queue.append(Pending(documents: documents, tokens: tokens, options: options, arrived: .now, continuation: continuation))
            queuedTokens += tokens
            condition.signal()
        }
    }

    public var snapshot: Counters {
        condition.lock()
        defer { condition.unlock() }
        var copy = counters
        copy.queuedTokens = queuedTokens
        copy.queuedRequests = queue.count
        return copy
    }

    /// Whether a batch is running or waiting.
    public var isIdle: Bool {
        condition.lock()
        defer { condition.unlock() }
        return queue.isEmpty && running == 0
    }

    /// Takes no new request; what is queued or running is finished. Returns when all is answered
    /// or `grace` has passed (then the rest is answered `stopping`).
    public func stop(grace: Duration) {
        let deadline = ContinuousClock.now + grace
        condition.lock()
        stopping = true
        condition.broadcast()
        while !(queue.isEmpty && running == 0), ContinuousClock.now < deadline {
            _ = condition.wait(until: Date().addingTimeInterval(Self.seconds(deadline - .now)))
        }
        let left = queue
        queue.removeAll()
        queuedTokens = 0
        condition.unlock()
        for pending in left { pending.continuation.resume(throwing: QueueError.stopping) }
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return max(0, Double(parts.seconds) + Double(parts.attoseconds) * 1e-18)
    }

    private func loop(_ process: Process) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping { condition.unlock(); return }
            // Give others a moment to join the first request, unless the batch is full already.
            let deadline = queue[0].arrived + settings.maxWait
            while queuedTokens < settings.maxBatchTokens, !stopping, ContinuousClock.now < deadline {
                _ = condition.wait(until: Date().addingTimeInterval(Self.seconds(deadline - .now)))
            }
            var expired: [Pending] = []
            if let timeout = settings.timeout {
                let now = ContinuousClock.now
                expired = queue.filter { now - $0.arrived > timeout }
                queue.removeAll { now - $0.arrived > timeout }
                queuedTokens -= expired.reduce(0) { $0 + $1.tokens }
            }
            let limit = Self.batchLimit(queuedTokens: queuedTokens, idleLanes: lanes - running, lanes: lanes, settings: settings)
            var taken: [Pending] = []
            var tokens = 0
            while let first = queue.first, taken.isEmpty || tokens + first.tokens <= limit {
                taken.append(queue.removeFirst())
                tokens += first.tokens
            }
            queuedTokens -= tokens
            if !taken.isEmpty { running += 1 }
            condition.unlock()
            for pending in expired { pending.continuation.resume(throwing: QueueError.timedOut(waited: .now - pending.arrived)) }
            guard !taken.isEmpty else { continue }
            run(taken, tokens: tokens, process: process)
            condition.lock()
            running -= 1
            counters.batches += 1
            counters.requests += taken.count
            counters.tokens += tokens
            condition.broadcast()
            condition.unlock()
        }
    }

    /// How many tokens a lane takes (whole requests, and at least one): with other lanes idle,
    /// a fair share among them; with the others busy, its share of the queue among all lanes,
    /// but at least `laneShareTokens`; never more than `maxBatchTokens`.
    public static func batchLimit(queuedTokens: Int, idleLanes: Int, lanes: Int, settings: BatchingSettings) -> Int {
        let share = idleLanes > 1
            ? (queuedTokens + idleLanes - 1) / idleLanes
            : Swift.max(settings.laneShareTokens, (queuedTokens + lanes - 1) / lanes)
        return Swift.min(settings.maxBatchTokens, share)
    }

    private func run(_ taken: [Pending], tokens: Int, process: Process) {
        let started = ContinuousClock.now
        let documents = taken.flatMap(\.documents)
        let outcome: Result<[Document], QueueError>
        do {
            let annotated = try process(documents, taken.flatMap { pending in Array(repeating: pending.options, count: pending.documents.count) })
            guard annotated.count == documents.count else { throw QueueError.failed("the pipeline returned \(annotated.count) documents for \(documents.count)") }
            outcome = .success(annotated)
        } catch {
            outcome = .failure(error as? QueueError ?? .failed("\(error)"))
        }
        // Recorded before anyone is answered, so a client that reads /metrics after its answer
        // finds its batch counted.
        observe?(taken.count, tokens, Self.seconds(.now - started))
        switch outcome {
        case let .success(annotated):
            var start = 0
            for pending in taken {
                pending.continuation.resume(returning: Array(annotated[start..<(start + pending.documents.count)]))
                start += pending.documents.count
            }
        case let .failure(failure):
            for pending in taken { pending.continuation.resume(throwing: failure) }
        }
    }
}
