import Annotation
import Foundation
import Models
import Server
import Synchronization
import Testing
import TestSupport

/// Requests of many clients share batches; each gets what it would get alone.
@Suite struct DynamicBatcherTests {
    static func texts(_ count: Int, seed: UInt64) -> [String] {
        var state = seed
        let words = ["Patients", "with", "BRCA1", "mutations", "developed", "breast", "cancer", "after", "cisplatin", "in", "mice", "."]
        return (0..<count).map { _ in
            (0..<(3 + Int(state % 30))).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return words[Int(state >> 33) % words.count]
            }.joined(separator: " ")
        }
    }

    /// One lane with two workers, and two lanes (as `biotag serve` runs) with one worker each.
    @Test(arguments: [1, 2]) func answersDoNotDependOnBatchMates(lanes: Int) async throws {
        let model = try MultiTaskModel(directory: TestModels.twoHeads)
        let annotators = try (0..<lanes).map { _ in try Annotator(model: model, threads: 1, workers: lanes == 1 ? 2 : 1) }
        defer { for annotator in annotators { annotator.shutdown() } }
        let texts = Self.texts(120, seed: 7)
        let alone = try texts.enumerated().map { try annotators[0].annotate([Document(id: "\($0)", text: $1)])[0] }
        let sizes = Mutex<[Int]>([])
        let used = Mutex<Set<ObjectIdentifier>>([])
        var settings = BatchingSettings()
        settings.maxBatchTokens = 400
        settings.maxWait = .milliseconds(20)
        let batcher = DynamicBatcher(settings: settings, lanes: annotators.map { annotator in
            { documents, _ in
                used.withLock { _ = $0.insert(ObjectIdentifier(annotator)) }
                return try annotator.annotate(documents)
            }
        }, observe: { requests, _, _ in sizes.withLock { $0.append(requests) } })
        // 120 clients at once, one to three texts each.
        let answers = try await withThrowingTaskGroup(of: (Int, [Document]).self) { group in
            var start = 0, client = 0
            while start < texts.count {
                let count = 1 + client % 3, first = start
                let documents = texts[first..<min(texts.count, first + count)].enumerated().map { Document(id: "\(first + $0)", text: $1) }
                group.addTask { (first, try await batcher.submit(documents, tokens: documents.reduce(0) { $0 + $1.passages[0].text.count / 4 + 2 })) }
                start += count; client += 1
            }
            var all = [Document?](repeating: nil, count: texts.count)
            for try await (first, documents) in group { for (offset, document) in documents.enumerated() { all[first + offset] = document } }
            return all
        }
        #expect(answers.map { $0?.passages } == alone.map(\.passages))
        // The counters catch up once the lanes are idle.
        while !batcher.isIdle { try await Task.sleep(for: .milliseconds(2)) }
        let counts = sizes.withLock { $0 }
        #expect(counts.reduce(0, +) == batcher.snapshot.requests && counts.contains { $0 > 1 }, "requests were batched together: \(counts)")
        #expect(used.withLock { $0.count } == lanes, "a burst keeps every lane busy")
        batcher.stop(grace: .seconds(5))
        await #expect(throws: QueueError.stopping) { try await batcher.submit([Document(id: "late", text: "x")], tokens: 1) }
    }

    @Test func aBusyServerSpreadsItsQueueOverTheLanes() {
        var settings = BatchingSettings()
        settings.maxBatchTokens = 1_000
        settings.laneShareTokens = 100
        func limit(_ queued: Int, idle: Int, lanes: Int = 2) -> Int {
            DynamicBatcher.batchLimit(queuedTokens: queued, idleLanes: idle, lanes: lanes, settings: settings)
        }
        // Both lanes idle: half each.
        #expect(limit(600, idle: 2) == 300)
        // The other lane busy: still half of a long queue, not all of it, for the busy lane
        // comes free soon; a short queue is taken whole up to the floor.
        #expect(limit(600, idle: 1) == 300)
        #expect(limit(150, idle: 1) == 100)
        #expect(limit(80, idle: 1) == 100)
        // Never more than a batch; one lane takes everything up to a batch.
        #expect(limit(5_000, idle: 1) == 1_000)
        #expect(limit(700, idle: 1, lanes: 1) == 700)
        #expect(limit(900, idle: 3, lanes: 4) == 300)
    }

    @Test func aFullQueueRefusesAtOnceAndStopFinishesTheRest() async throws {
        let release = Mutex(false)
        var settings = BatchingSettings()
        settings.maxQueueTokens = 10
        settings.maxBatchTokens = 10
        settings.maxWait = .milliseconds(1)
        // A pipeline that holds its first batch until told to go.
        let batcher = DynamicBatcher(settings: settings) { documents, _ in
            while !release.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
            return documents
        }
        let first = Task { try await batcher.submit([Document(id: "a", text: "a")], tokens: 6) }
        // Until the first request runs (taken from the queue).
        while batcher.isIdle || batcher.snapshot.queuedRequests > 0 { try await Task.sleep(for: .milliseconds(2)) }
        let second = Task { try await batcher.submit([Document(id: "b", text: "b")], tokens: 6) }
        while batcher.snapshot.queuedRequests == 0 { try await Task.sleep(for: .milliseconds(2)) }
        // 6 queued + 6 > 10: refused without waiting; alone larger than the queue: too large.
        await #expect(throws: QueueError.overloaded(queuedTokens: 6, limit: 10)) { try await batcher.submit([Document(id: "c", text: "c")], tokens: 6) }
        await #expect(throws: QueueError.tooLarge(tokens: 11, limit: 10)) { try await batcher.submit([Document(id: "d", text: "d")], tokens: 11) }
        release.withLock { $0 = true }
        let stopped = Task.detached { batcher.stop(grace: .seconds(10)) }
        #expect(try await first.value.map(\.id) == ["a"])
        #expect(try await second.value.map(\.id) == ["b"])
        await stopped.value
        #expect(batcher.isIdle && batcher.snapshot.requests == 2)
    }

    @Test func aWaitingRequestTimesOut() async throws {
        let release = Mutex(false)
        var settings = BatchingSettings()
        settings.maxBatchTokens = 1
        settings.maxWait = .zero
        settings.timeout = .milliseconds(50)
        let batcher = DynamicBatcher(settings: settings) { documents, _ in
            while !release.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
            return documents
        }
        let first = Task { try await batcher.submit([Document(id: "a", text: "a")], tokens: 1) }
        // Until the first request runs (taken from the queue).
        while batcher.isIdle || batcher.snapshot.queuedRequests > 0 { try await Task.sleep(for: .milliseconds(2)) }
        let second = Task { try await batcher.submit([Document(id: "b", text: "b")], tokens: 1) }
        // Queued, then left there well past its deadline (however slowly the machine runs).
        while batcher.snapshot.queuedRequests == 0 { try await Task.sleep(for: .milliseconds(2)) }
        try await Task.sleep(for: .milliseconds(120))
        release.withLock { $0 = true }
        #expect(try await first.value.map(\.id) == ["a"])
        await #expect { try await second.value } throws: { error in
            if case QueueError.timedOut = error { return true } else { return false }
        }
        batcher.stop(grace: .seconds(5))
    }
}
