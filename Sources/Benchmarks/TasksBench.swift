import ArgumentParser
import CommandLineSupport
import Foundation
import Models

/// The multi-task workload: every head of one model in one pass, against one PyTorch model per
/// task.
struct BenchTasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Every NER head of a multi-task model in one pass, against one PyTorch model per task at batch 1.",
        discussion: """
            biotag runs the multi-task model (encoder and every token head) at batch 1 and in throughput mode, per --modes \\
            entry (int8: quantized as it loads). The reference is bench/reference.py's torch-tasks: as many separate \\
            BertForTokenClassification models as the model has token heads, built on --reference-model (same shape as \\
            the multi-task encoder; its weights do not change the time), each sentence through all of them at batch 1 in \\
            fp32. The speed-up is the reference's time per sentence over biotag's.
            """)

    @Option(help: ArgumentHelp("Multi-task model directory.", discussion: "Default: models/bioner-minilm-8 in the working directory, else $BIOTAG_HOME/models/bioner-minilm-8."))
    var model: String?

    @Option(help: ArgumentHelp("fp32 model the PyTorch reference builds its models from.", discussion: "Default: all-MiniLM-L6-v2 as fetched by `biotag fetch-model minilm`."))
    var referenceModel: String?

    @OptionGroup var bench: BenchOptions

    @Flag(help: "Skip the PyTorch reference.")
    var noReference = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let directory = try modelDirectory(model)
        let (path, texts) = try bench.texts()
        let (threads, batchSize, repeats) = (bench.threads, bench.batchSize, bench.repeats)

        var heads = 0
        // One round: every biotag configuration, then the reference (see BenchOptions.rounds).
        func measureRound() throws -> TasksRound {
            var results: [BenchResult] = []
            var idsForReference: [[Int32]] = []
            for mode in bench.precisions {
                let loaded: MultiTaskModel
                do { loaded = try MultiTaskModel(directory: directory, precision: mode) } catch { throw CommandError(error.description) }
                heads = loaded.tasks.filter { if case .token = $0.head { true } else { false } }.count
                guard heads >= 1 else { throw CommandError("\(directory) has no token-classification heads") }
                let sequences = texts.map { loaded.tokenizer.truncate(loaded.tokenizer.encode($0), maxLength: loaded.config.maxPositions).ids }
                let name = (directory as NSString).lastPathComponent
                let label = "\(loaded.encoder.precision.rawValue), \(heads) heads"
                results.append(try EncoderBench.latency(model: loaded, sequences: sequences, threads: threads, repeats: repeats, name: name, mode: label, heads: true))
                if threads > 1 {
                    results.append(try EncoderBench.throughput(model: loaded, sequences: sequences, batchSize: batchSize, workers: threads, threads: 1,
                                                               repeats: repeats, name: name, mode: label, heads: true))
                }
                results.append(try EncoderBench.throughput(model: loaded, sequences: sequences, batchSize: batchSize, workers: 1, threads: threads,
                                                           repeats: repeats, name: name, mode: label, heads: true))
                idsForReference = sequences
            }
            var round = TasksRound(results: results)
            if !noReference {
                let base = referenceModel ?? ModelLocations.fetched("all-MiniLM-L6-v2")
                do {
                    let output = try ReferenceRunner.run(script: bench.referenceScript, model: base, sentences: path, ids: idsForReference, limit: bench.limit, threads: threads,
                                                         batchSizes: [1], runtimes: "torch-tasks", extra: ["--tasks", "\(heads)"])
                    round.reference = output.results.first
                } catch {
                    round.note = "reference not measured: \(error)"
                    printError(round.note!)
                }
            }
            return round
        }
        let summary = TasksRound(medianOf: try bench.inRounds(measureRound))
        print(json ? Self.json(summary, heads: heads, sentences: texts.count, threads: threads)
                   : Self.table(summary, heads: heads, sentences: texts.count, threads: threads))
    }

    static func table(_ summary: TasksRound, heads: Int, sentences: Int, threads: Int) -> String {
        var lines = ["\(heads) NER tasks over \(sentences) sentences, \(threads) cores"]
        if summary.rounds > 1 {
            lines.append("medians of \(summary.rounds) rounds (each: biotag, then the reference); a speed-up is the median of the rounds' speed-ups (lowest–highest)")
        }
        lines.append("")
        lines.append("configuration".padding(toLength: 56, withPad: " ", startingAt: 0) + "ms/sentence  sentences/s   speed-up vs one PyTorch model per task")
        for (index, result) in summary.results.enumerated() {
            let values = summary.speedUps[index]
            let speedUp = median(values).map { String(format: "%.1f×", $0) + (values.count > 1 ? String(format: " (%.1f–%.1f)", values.min()!, values.max()!) : "") } ?? "-"
            lines.append(result.name.padding(toLength: 56, withPad: " ", startingAt: 0) + String(format: "%11.3f %12.1f   ", result.msPerSentence, 1000 / result.msPerSentence) + speedUp)
        }
        if let reference = summary.reference {
            lines.append("torch fp32, \(heads) models, batch 1".padding(toLength: 56, withPad: " ", startingAt: 0)
                + String(format: "%11.3f %12.1f   1.0×", reference.msPerSentence, 1000 / reference.msPerSentence))
            lines.append("")
            lines.append("reference: \(reference.notes ?? "")")
        }
        if let note = summary.note { lines.append(""); lines.append(note) }
        return lines.joined(separator: "\n")
    }

    static func json(_ summary: TasksRound, heads: Int, sentences: Int, threads: Int) -> String {
        var configurations: [[String: Any]] = summary.results.enumerated().map { index, result in
            var entry: [String: Any] = ["name": result.name, "model": result.model, "mode": result.mode, "batch": result.batch, "threads": result.threads,
                                        "workers": result.workers, "ms_per_sentence": result.msPerSentence, "sentences_per_second": 1000 / result.msPerSentence]
            let values = summary.speedUps[index]
            if let speedUp = median(values) { entry["speed_up"] = speedUp }
            if summary.rounds > 1 {
                entry["round_ms_per_sentence"] = summary.roundTimes[index]
                if !values.isEmpty { entry["round_speed_ups"] = values }
            }
            return entry
        }
        if let reference = summary.reference {
            configurations.append(["name": "torch fp32, \(heads) models, batch 1", "runtime": reference.runtime, "batch": 1,
                                   "ms_per_sentence": reference.msPerSentence, "sentences_per_second": reference.sentencesPerSecond, "notes": reference.notes ?? ""])
        }
        var object: [String: Any] = ["tasks": heads, "sentences": sentences, "threads": threads, "rounds": summary.rounds, "configurations": configurations]
        if let note = summary.note { object["note"] = note }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// What one round of `bench tasks` measured, or the medians of several rounds.
struct TasksRound {
    var results: [BenchResult]
    var reference: ReferenceResult?
    var note: String?
    /// Per result: the reference's time over biotag's, one value per round that has a reference.
    var speedUps: [[Double]]
    /// Per result: its time in each round.
    var roundTimes: [[Double]]
    var rounds = 1

    init(results: [BenchResult]) {
        self.results = results
        speedUps = results.map { _ in [] }
        roundTimes = results.map { [$0.msPerSentence] }
    }

    /// Medians over rounds that measured the same configurations in the same order; a speed-up
    /// is the median of the rounds' own speed-ups.
    init(medianOf rounds: [TasksRound]) {
        let first = rounds[0]
        results = first.results.indices.map { index in BenchResult(medianOf: rounds.map { $0.results[index] }) }
        roundTimes = first.results.indices.map { index in rounds.map { $0.results[index].msPerSentence } }
        speedUps = first.results.indices.map { index in
            rounds.compactMap { round in round.reference.map { $0.msPerSentence / round.results[index].msPerSentence } }
        }
        let measured = rounds.compactMap(\.reference)
        reference = measured.isEmpty ? nil : ReferenceResult(medianOf: measured)
        let notes = rounds.enumerated().compactMap { index, round in round.note.map { rounds.count > 1 ? "round \(index + 1): \($0)" : $0 } }
        note = notes.isEmpty ? nil : notes.joined(separator: "\n")
        self.rounds = rounds.count
    }
}
