import CKernels
import CommandLineSupport
import Foundation
import Models
import Synchronization

/// One measured configuration.
struct BenchResult {
    var name: String
    var model: String
    /// fp32, int8 or bf16.
    var mode: String
    var batch: Int
    var threads: Int
    var workers: Int
    var msPerSentence: Double
    var p50: Double?
    var p99: Double?
    /// The weights file this configuration loaded, and the resident memory its model, runners and
    /// runs added at their peak.
    var sizeMiB: Double?
    var memoryMiB: Double?
    var sentencesPerSecond: Double { 1000 / msPerSentence }
}

/// What a benchmark runs per batch: the encoder alone, or the encoder and every head.
protocol BenchTarget: AnyObject, Sendable {
    var encoderRunner: EncoderRunner { get }
    func run(_ batch: PackedBatch) throws
    func shutdown()
}

extension EncoderRunner: BenchTarget {
    var encoderRunner: EncoderRunner { self }
    func run(_ batch: PackedBatch) throws { _ = try forward(batch) }
}

extension MultiTaskRunner: BenchTarget {
    var encoderRunner: EncoderRunner { encoder }
    func run(_ batch: PackedBatch) throws { _ = try forward(batch) }
}

enum EncoderBench {
    /// Each sentence alone, one after another, `threads` threads splitting every operation.
    static func latency(model: MultiTaskModel, sequences: [[Int32]], threads: Int, repeats: Int, name: String, mode: String = "fp32",
                        heads: Bool = false) throws -> BenchResult {
        let runner: any BenchTarget = heads ? try MultiTaskRunner(model: model, threads: threads) : try EncoderRunner(weights: model.encoder, threads: threads)
        defer { runner.shutdown() }
        // Warm-up: one untimed pass creates the GEMM primitives for every length.
        for sequence in sequences { try runner.run(PackedBatch([sequence])) }
        let profile = OperationProfile()
        runner.encoderRunner.profile = profile
        for sequence in sequences { try runner.run(PackedBatch([sequence])) }
        runner.encoderRunner.profile = nil
        let total = profile.order.reduce(Duration.zero) { $0 + profile.totals[$1]! }
        printError("\(mode) batch 1, \(threads) threads, time per encoder operation:")
        if let layers = model.encoder.int8Summary { printError("  int8 layers: \(layers)") }
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
                try runner.run(PackedBatch([sequence]))
                times.append((ContinuousClock.now - start).seconds * 1000)
            }
            passes.append(times)
        }
        let median = passes.sorted { $0.reduce(0, +) < $1.reduce(0, +) }[passes.count / 2]
        let sorted = median.sorted()
        return BenchResult(
            name: "biotag \(mode) batch 1, \(threads) thread\(threads == 1 ? "" : "s")", model: name, mode: mode, batch: 1, threads: threads, workers: 1,
            msPerSentence: median.reduce(0, +) / Double(median.count),
            p50: sorted[sorted.count / 2], p99: sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)])
    }

    /// Length-sorted batches of `batchSize`, packed without padding, spread over `workers`
    /// independent runners of `threads` threads each.
    static func throughput(model: MultiTaskModel, sequences: [[Int32]], batchSize: Int, workers: Int, threads: Int, repeats: Int, name: String,
                           mode: String = "fp32", heads: Bool = false) throws -> BenchResult {
        let batches = Batcher(tokenBudget: .max, maxSequences: batchSize).batches(sequences).map(\.packed)
        let runners: [any BenchTarget] = try (0..<workers).map { _ -> any BenchTarget in
            heads ? try MultiTaskRunner(model: model, threads: threads) : try EncoderRunner(weights: model.encoder, threads: threads)
        }
        defer { runners.forEach { $0.shutdown() } }
        var seconds: [Double] = []
        for pass in 0...repeats {
            let elapsed = try runParallel(runners: runners, batches: batches)
            if pass > 0 { seconds.append(elapsed) }  // pass 0 warms up
        }
        let median = seconds.sorted()[seconds.count / 2]
        return BenchResult(
            name: "biotag \(mode) batch \(batchSize), \(workers) worker\(workers == 1 ? "" : "s") × \(threads) thread\(threads == 1 ? "" : "s")",
            model: name, mode: mode, batch: batchSize, threads: threads, workers: workers,
            msPerSentence: median * 1000 / Double(sequences.count))
    }

    /// The batches spread over the runners (`Batcher.dispatch`); returns wall seconds.
    private static func runParallel(runners: [any BenchTarget], batches: [PackedBatch]) throws -> Double {
        let start = ContinuousClock.now
        _ = try Batcher.dispatch(batches.count, over: runners) { runner, index in try runner.run(batches[index]) }
        return (ContinuousClock.now - start).seconds
    }
}

enum ProcessMemory {
    /// Resets the peak (VmHWM) to the current resident set; false where the kernel does not allow it.
    @discardableResult
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    static func residentMiB() -> Double? { field("VmRSS") }
    static func peakMiB() -> Double? { field("VmHWM") }

    private static func field(_ name: String) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 }
        }
        return nil
    }

    /// Runs `body` and returns its result with the resident memory it added at its peak.
    static func measure<T>(_ body: () throws -> T) rethrows -> (T, Double?) {
        // Hand memory freed by earlier configurations back first: kept by malloc, it would be
        // reused without showing up here.
        malloc_trim(0)
        let start = residentMiB()
        let reset = resetPeak()
        let result = try body()
        guard reset, let start, let peak = peakMiB() else { return (result, nil) }
        return (result, peak - start)
    }
}
