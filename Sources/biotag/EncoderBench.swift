import Foundation
import Models
import Synchronization

/// One measured configuration.
struct BenchResult {
    var name: String
    var model: String
    var batch: Int
    var threads: Int
    var workers: Int
    var msPerSentence: Double
    var p50: Double?
    var p99: Double?
    var sentencesPerSecond: Double { 1000 / msPerSentence }
}

enum EncoderBench {
    /// Each sentence alone, one after another, `threads` threads splitting every operation.
    static func latency(model: MultiTaskModel, sequences: [[Int32]], threads: Int, repeats: Int, name: String) throws -> BenchResult {
        let runner = try EncoderRunner(weights: model.encoder, threads: threads)
        defer { runner.shutdown() }
        // Warm-up: one untimed pass creates the GEMM primitives for every length.
        for sequence in sequences { _ = try runner.forward(PackedBatch([sequence])) }
        let profile = OperationProfile()
        runner.profile = profile
        for sequence in sequences { _ = try runner.forward(PackedBatch([sequence])) }
        runner.profile = nil
        let total = profile.order.reduce(Duration.zero) { $0 + profile.totals[$1]! }
        printError("batch 1, \(threads) threads, time per operation:")
        for name in profile.order {
            let share = profile.totals[name]!.seconds / total.seconds
            printError("  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(format: "%6.3f ms/sentence  %5.1f%%", profile.totals[name]!.seconds * 1000 / Double(sequences.count), share * 100))")
        }
        var passes: [[Double]] = []
        for _ in 0..<repeats {
            var times: [Double] = []
            times.reserveCapacity(sequences.count)
            for sequence in sequences {
                let start = ContinuousClock.now
                _ = try runner.forward(PackedBatch([sequence]))
                times.append((ContinuousClock.now - start).seconds * 1000)
            }
            passes.append(times)
        }
        let median = passes.sorted { $0.reduce(0, +) < $1.reduce(0, +) }[passes.count / 2]
        let sorted = median.sorted()
        return BenchResult(
            name: "biotag fp32 batch 1, \(threads) thread\(threads == 1 ? "" : "s")", model: name, batch: 1, threads: threads, workers: 1,
            msPerSentence: median.reduce(0, +) / Double(median.count),
            p50: sorted[sorted.count / 2], p99: sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)])
    }

    /// Length-sorted batches of `batchSize`, packed without padding, spread over `workers`
    /// independent runners of `threads` threads each.
    static func throughput(model: MultiTaskModel, sequences: [[Int32]], batchSize: Int, workers: Int, threads: Int, repeats: Int, name: String) throws -> BenchResult {
        let order = sequences.indices.sorted { sequences[$0].count < sequences[$1].count }
        let batches: [PackedBatch] = stride(from: 0, to: order.count, by: batchSize).map { start in
            PackedBatch(order[start..<min(start + batchSize, order.count)].map { sequences[$0] })
        }
        let runners = try (0..<workers).map { _ in try EncoderRunner(weights: model.encoder, threads: threads) }
        defer { runners.forEach { $0.shutdown() } }
        var seconds: [Double] = []
        for pass in 0...repeats {
            let elapsed = try runParallel(runners: runners, batches: batches)
            if pass > 0 { seconds.append(elapsed) }  // pass 0 warms up
        }
        let median = seconds.sorted()[seconds.count / 2]
        return BenchResult(
            name: "biotag fp32 batch \(batchSize), \(workers) worker\(workers == 1 ? "" : "s") × \(threads) thread\(threads == 1 ? "" : "s")",
            model: name, batch: batchSize, threads: threads, workers: workers,
            msPerSentence: median * 1000 / Double(sequences.count))
    }

    /// Each worker thread takes the next batch until none is left; returns wall seconds.
    private static func runParallel(runners: [EncoderRunner], batches: [PackedBatch]) throws -> Double {
        let shared = SharedWork()
        let start = ContinuousClock.now
        let group = DispatchGroup()
        for runner in runners {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while true {
                    let index = shared.next.add(1, ordering: .relaxed).oldValue
                    guard index < batches.count else { return }
                    do { _ = try runner.forward(batches[index]) } catch {
                        shared.failure.withLock { $0 = "\(error)" }
                        return
                    }
                }
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
        group.wait()
        if let message = shared.failure.withLock({ $0 }) { throw CommandError(message) }
        return (ContinuousClock.now - start).seconds
    }
}

/// What the throughput workers share: the next batch index and the first failure.
private final class SharedWork: Sendable {
    let next = Atomic<Int>(0)
    let failure = Mutex<String?>(nil)
}
