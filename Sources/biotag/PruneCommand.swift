import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shrink a multi-task model's matrices: keep each layer's most important attention heads and FFN neurons, then recover by distillation.",
        discussion: """
            Importance is measured on the eight tasks together: the gold loss of each batch's head over the first \
            --importance-steps batches of the training plan (no update, no dropout), each unit scored by the \
            first-order Taylor estimate of the loss change if it were removed, |Σ w·∂L/∂w| over the weights that read \
            it, summed over batches. Every layer keeps its --heads best heads and --ffn best FFN neurons (every MLP head \
            its --head-inner best inner neurons, when given); the matrices are cut to those rows and columns. The \
            pruned model then learns from the unpruned one as `distill` trains a student (same options: corpora, \
            losses, checkpoints, --resume). The result is an ordinary model directory (config.json records the heads \
            removed as pruned_heads and the FFN widths as intermediate_sizes): it loads, quantizes, converts and \
            benchmarks with the other commands. --out/pruning.json keeps the importance and what was kept.
            """)

    @Option(help: "The model to prune and to recover from (a model directory with its heads; best: its fp32 source).")
    var model: String

    @Option(help: "Attention heads kept in every layer.")
    var heads: Int

    @Option(help: "FFN neurons kept in every layer.")
    var ffn: Int

    @Option(name: .customLong("head-inner"), help: ArgumentHelp("Inner neurons kept in every MLP task head (default: all).", valueName: "n"))
    var headInner: Int?

    @Option(help: "Batches of the training plan the importance is measured on.")
    var importanceSteps: Int = 256

    @Flag(help: "Write the pruned model without the recovery (no distillation).")
    var noRecovery = false

    @OptionGroup var losses: DistillationOptions

    @OptionGroup var training: TrainingOptions

    func validate() throws {
        guard heads >= 1 else { throw ValidationError("--heads must be at least 1") }
        guard ffn >= 1 else { throw ValidationError("--ffn must be at least 1") }
        if let headInner, headInner < 1 { throw ValidationError("--head-inner must be at least 1") }
        guard importanceSteps >= 1 else { throw ValidationError("--importance-steps must be at least 1") }
    }

    /// What was asked, kept in pruning.json so that --resume continues the same pruning.
    struct Request: Codable, Equatable {
        var heads: Int, ffn: Int, headInner: Int?, importanceSteps: Int
    }

    /// `--out/pruning.json`.
    struct Record: Codable {
        var model: String
        var request: Request
        var plan: PruningPlan
        var importance: PruningImportance
    }

    func run() throws {
        try training.checkOutput(isNot: model, option: "--model")
        let loadedModel: TrainableModel
        do { loadedModel = try TrainableModel.load(directory: model, tasks: nil, seed: 0) } catch { throw CommandError("--model: \(error.description)") }
        try noteHeadsLeftOut(of: model, by: "the pruned model")
        let names = training.tasks == nil ? loadedModel.heads.map(\.name) : training.taskNames
        let config = loadedModel.config
        let fewestHeads = (0..<config.layers).map(config.heads(layer:)).min() ?? 0
        let narrowest = (0..<config.layers).map(config.intermediateSize(layer:)).min() ?? 0
        guard heads <= fewestHeads else { throw CommandError("--heads \(heads): \(model) has \(fewestHeads) heads in its smallest layer") }
        guard ffn <= narrowest else { throw CommandError("--ffn \(ffn): \(model) has \(narrowest) FFN neurons in its narrowest layer") }
        // The heads pruned and recovered, in the order of --tasks (the trainer's task order).
        let source: TrainableModel
        do { source = try loadedModel.keepingLayers(Array(0..<config.layers), heads: names) } catch { throw CommandError(error.description) }
        if let headInner {
            let widths = source.heads.compactMap { $0.dense?.outFeatures }
            guard !widths.isEmpty else { throw CommandError("--head-inner: \(model)'s heads have no inner layer to narrow") }
            guard headInner <= widths.min()! else { throw CommandError("--head-inner \(headInner): the narrowest head of \(model) has \(widths.min()!) inner neurons") }
        }
        var settings = try training.settings(names: names)
        let tasks = try training.loadTasks(names, tokenizerDirectory: model)
        let request = Request(heads: heads, ffn: ffn, headInner: headInner, importanceSteps: importanceSteps)
        let record = try pruningRecord(request: request, source: source, tasks: tasks, settings: settings)
        let student: TrainableModel
        do { student = try source.pruned(record.plan) } catch { throw CommandError(error.description) }
        printError(String(format: "pruned to %d heads and %d FFN neurons per layer%@: %.1fM of %.1fM parameters",
                          heads, ffn, headInner.map { ", \($0) inner neurons per head" } ?? "",
                          Double(student.store.count) / 1e6, Double(source.store.count) / 1e6))
        if noRecovery {
            do {
                try student.save(to: training.out, tokenizerDirectory: model, metadata: [ModelMetadataKey.pruned: Self.summary(request, of: model)])
            } catch { throw CommandError(error.description) }
            printError("wrote the pruned model (not recovered) to \(training.out)")
            return
        }
        settings.distillation = losses.settings
        let trainer: Trainer
        do {
            trainer = try Trainer(model: student, tasks: tasks, settings: settings, output: training.out, tokenizerDirectory: model, teacher: source)
        } catch { throw CommandError(error.description) }
        printError("recovering by distillation from \(model): \(trainer.totalSteps) steps (\(trainer.stepsPerEpoch) per epoch), \(settings.threads) threads")
        try training.run(trainer)
    }

    static func summary(_ request: Request, of model: String) -> String {
        "\(request.heads) heads, \(request.ffn) FFN neurons per layer" + (request.headInner.map { ", \($0) inner per head" } ?? "") + " of \(model)"
    }

    /// The importance and the plan: read back from --out/pruning.json when resuming the same
    /// pruning, measured (and written there) otherwise.
    private func pruningRecord(request: Request, source: TrainableModel, tasks: [TrainingTask], settings: TrainingSettings) throws -> Record {
        let path = (training.out as NSString).appendingPathComponent("pruning.json")
        if training.resume, FileManager.default.fileExists(atPath: path) {
            let record: Record
            do { record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                throw CommandError("\(path): unreadable pruning record: \(error)")
            }
            guard record.request == request else {
                throw CommandError("\(path) belongs to another pruning (\(Self.summary(record.request, of: record.model))); use another --out or the same flags")
            }
            printError("resuming the pruning in \(path)")
            return record
        }
        let scorer: Trainer
        do { scorer = try Trainer(model: source, tasks: tasks, settings: settings, output: training.out, tokenizerDirectory: model) } catch {
            throw CommandError(error.description)
        }
        var importance = PruningImportance(model: source)
        let start = ContinuousClock.now
        do { try scorer.visitGradients(steps: importanceSteps) { importance.accumulate($0) } } catch { throw CommandError(error.description) }
        let plan = PruningPlan.keepingMostImportant(importance, heads: heads, ffn: ffn, headInner: headInner)
        printError(String(format: "importance over %d batches in %.0f s", importance.batches, (ContinuousClock.now - start).seconds))
        for layer in plan.heads.indices {
            func share(_ scores: [Double], _ kept: [Int]) -> Double { 100 * kept.reduce(0) { $0 + scores[$1] } / max(scores.reduce(0, +), .leastNormalMagnitude) }
            printError(String(format: "layer %d: heads %@ kept (%.0f%% of the layer's head importance), FFN neurons %.0f%% of its importance",
                              layer, plan.heads[layer].map(String.init).joined(separator: ","), share(importance.heads[layer], plan.heads[layer]),
                              share(importance.neurons[layer], plan.neurons[layer])))
        }
        let record = Record(model: model, request: request, plan: plan, importance: importance)
        do {
            try FileManager.default.createDirectory(atPath: training.out, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(record).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch { throw CommandError("\(path): cannot write the pruning record: \(error.localizedDescription)") }
        return record
    }
}
