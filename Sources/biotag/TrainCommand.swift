import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Tokenization
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune an encoder with one token-classification head per task (multi-task when several).",
        discussion: """
            Each task is a folder of --data with train.tsv and devel.tsv (token<TAB>label, IOB2, blank line between \
            sentences). Every batch comes from one task and trains the encoder and that task's two-layer MLP head. \
            The model with the best mean devel F1 is written to --out as a model directory that `biotag eval` and \
            inference load; a checkpoint in --out/checkpoint lets an interrupted run continue with --resume. \
            Progress goes to stderr.

            With --relation, a document-level relation head (BioCreative V CID, docs/RELATIONS.md) trains in the same \
            run: every step adds the relation loss of --relation-documents documents of the PubTator file, through the \
            encoder, to the token head's loss. The two gradients are clipped each on its own, the relation's to \
            --relation-weight times the token head's maximum norm, so the relation loss cannot shrink the token \
            heads' update. When --base has a relation head, it is the one trained (its name, \
            arguments, features and widths, from its weights); otherwise a new 16-wide `cid` head over chemical and \
            disease entities. A tenth of the documents is held out: the head's F1 there joins the devel scores that \
            choose the model, and sets its threshold.
            """)

    @Option(help: "Base model directory (default: all-MiniLM-L6-v2 from `biotag fetch-model minilm`).")
    var base: String?

    @OptionGroup var training: TrainingOptions

    @Option(help: ArgumentHelp("PubTator file of documents with entities, concept ids and relation lines: a relation head trains with the encoder.",
                               valueName: "file"))
    var relation: String?

    @Option(help: "Weight of the relation loss beside the token head's: its encoder gradient is clipped to this times the token head's maximum norm.")
    var relationWeight = 0.2

    @Option(help: "Documents whose relation loss each step adds.")
    var relationDocuments = 4

    @Option(help: "Peak learning rate of the relation head's own weights (the encoder follows --lr).")
    var relationLr = 1e-3

    @Flag(help: "Clip the sum of the token head's and the relation loss's gradients, as a single loss's, instead of each on its own.")
    var clipRelationTogether = false

    func validate() throws {
        guard training.tasks != nil else { throw ValidationError("--tasks is required: the heads to train, e.g. disease,chemical") }
        guard relationWeight > 0, relationWeight.isFinite else { throw ValidationError("--relation-weight must be a positive number") }
        guard relationDocuments >= 1 else { throw ValidationError("--relation-documents must be at least 1") }
        guard relationLr > 0, relationLr.isFinite else { throw ValidationError("--relation-lr must be a positive number") }
    }

    func run() throws {
        let baseDirectory = base ?? ModelLocations.fetched("all-MiniLM-L6-v2")
        var settings = try training.settings(names: training.taskNames)
        let loaded = try training.loadTasks(training.taskNames, tokenizerDirectory: baseDirectory)
        var relationTask: RelationTask?
        if let relation {
            var joint = RelationJointSettings()
            joint.weight = relationWeight; joint.documentsPerStep = relationDocuments; joint.learningRate = relationLr
            joint.clipSeparately = clipRelationTogether ? nil : true
            settings.relation = joint
            relationTask = try Self.relationTask(relation, base: baseDirectory, seed: settings.seed)
            printError("relation \(relationTask!.name): \(relationTask!.train.count) training documents, \(relationTask!.heldOut.count) held out, from \(relation)")
        }
        let model: TrainableModel
        do {
            model = try TrainableModel.load(directory: baseDirectory, tasks: loaded.map { TrainableModel.mlpTask(name: $0.name, labels: $0.labels) }, seed: settings.seed)
        } catch { throw CommandError(error.description) }
        let trainer: Trainer
        do {
            trainer = try Trainer(model: model, tasks: loaded, settings: settings, output: training.out, tokenizerDirectory: baseDirectory, relation: relationTask)
        } catch {
            throw CommandError(error.description)
        }
        printError("training \(training.taskNames.joined(separator: ",")) from \(baseDirectory): \(trainer.totalSteps) steps (\(trainer.stepsPerEpoch) per epoch), \(settings.threads) threads")
        try training.run(trainer)
    }

    /// The relation head to train on `file`'s documents: the base model's own (weights and all)
    /// when it has one, else a new CID head over chemical and disease entities.
    static func relationTask(_ file: String, base: String, seed: UInt64) throws -> RelationTask {
        let documents = try EvalRelations.read(file)
        let config: EncoderConfig
        let tokenizer: WordPieceTokenizer
        let existing: TaskSpec?
        do {
            config = try EncoderConfig.load(path: (base as NSString).appendingPathComponent("config.json"))
            let tasksPath = (base as NSString).appendingPathComponent("tasks.json")
            existing = FileManager.default.fileExists(atPath: tasksPath) ? try TaskFile.load(path: tasksPath).tasks.first { $0.kind == .relation } : nil
        } catch { throw CommandError(error.description) }
        do { tokenizer = try WordPieceTokenizer.load(directory: base) } catch { throw CommandError("\(base): \(error.description)") }
        var options = RelationTrainingOptions()
        options.seed = seed
        let name = existing?.name ?? "cid", type = existing?.labels.first ?? "CID"
        let arguments = existing?.arguments ?? [RelationArgument(role: "chemical", types: ["chemical"]), RelationArgument(role: "disease", types: ["disease"])]
        let features = existing?.features ?? RelationFeature.allCases
        var weights: SafetensorsFile?
        if let existing {
            let path = (base as NSString).appendingPathComponent("model.safetensors")
            do { weights = try SafetensorsFile(path: path) } catch { throw CommandError("\(path): \(error.description)") }
            guard let projection = existing.tensors["projection"], let dense = existing.tensors["dense"],
                  let width = weights?.header.tensors[projection + ".weight"]?.shape.first, let inner = weights?.header.tensors[dense + ".weight"]?.shape.first else {
                throw CommandError("\(path): the relation head '\(name)' has no projection or dense weights")
            }
            options.width = width; options.inner = inner
        }
        let head = RelationTrainer(hidden: config.hiddenSize, features: features.count, options: options)
        if let weights, let existing {
            do { try head.load(from: weights, prefix: "heads.\(existing.name)") } catch { throw CommandError("\(base): the relation head '\(name)': \(error.description)") }
        }
        do {
            return try RelationTask(name: name, type: type, arguments: arguments, features: features, documents: documents, tokenizer: tokenizer,
                                    maxPieces: config.maxPositions - 2, head: head, seed: seed)
        } catch { throw CommandError("\(file): \(error.description)") }
    }
}

/// What `train` and `distill` share: the corpora, the optimiser, the schedule, checkpoints.
struct TrainingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Comma-separated task names, each a folder of --data.", valueName: "names"))
    var tasks: String?

    @Option(help: "Folder holding one sub-folder per task.")
    var data: String

    @Option(help: "Output model directory.")
    var out: String

    @Option(help: ArgumentHelp("TASK=FILE: more training sentences for a head, an IOB file of its type (`biotag corpus` writes one from PubTator or standoff); repeatable.",
                               discussion: "They train only their head: unlike the head's own corpus they never serve the other heads as negatives (BC5CDR's disease sentences are the chemical corpus's sentences, where a negative would teach the chemical head O on chemicals). Model selection still uses the head's own devel split.",
                               valueName: "task=file"))
    var extra: [String] = []

    @Option(help: "Passes over the training data (fractions allowed).")
    var epochs: Double = 3

    @Option(help: "Windows per batch. Larger batches use the cores better but take fewer steps per epoch.")
    var batchSize: Int = 32

    @Option(help: "Peak learning rate of AdamW (after warm-up, decaying linearly to 0).")
    var lr: Double = 5e-5

    @Option(help: "Fraction of the steps spent warming the learning rate up.")
    var warmup: Double = 0.1

    @Option(help: "AdamW weight decay (never on biases and LayerNorm).")
    var weightDecay: Double = 0.01

    @Option(help: "Clip the global gradient norm to this value.")
    var maxGradNorm: Double = 1.0

    @Option(help: "Dropout probability (hidden states, attention probabilities, head input).")
    var dropout: Float = 0.1

    @Option(help: ArgumentHelp("Longest window in wordpieces, [CLS] and [SEP] included; longer sentences are cut at word boundaries.",
                               discussion: "Shorter windows train faster (attention grows with the square of the length) but cut more sentences."))
    var maxLength: Int = 128

    @Option(help: "Seed of the head initialisation, shuffling, task sampling and dropout: the same seed gives the same model.")
    var seed: UInt64 = 13

    @Option(help: ArgumentHelp("Task sampling exponent: a batch's task is drawn with probability ∝ (corpus windows)^alpha.",
                               discussion: "1 follows corpus size (small corpora are seen rarely); 0 is uniform (small corpora are repeated often); 0.5 is between."))
    var alpha: Double = 0.5

    @Option(help: ArgumentHelp("Windows from the other tasks' corpora added per batch, as a fraction of --batch-size.",
                               discussion: "Their words inside gold entities of another type are taught as O to the batch's head; the rest is ignored. Stops heads from firing on the other tasks' entities. Type pairs that legitimately overlap (cell/cell_type, anatomy/cell, anatomy/cell_type, anatomy/cellular_component) are never used as each other's negatives."))
    var negativeRate: Double = 0

    @Option(name: .customLong("negative-rate-for"), help: ArgumentHelp(
        "TASK=RATE: this head's negative rate instead of --negative-rate (repeatable).", valueName: "task=rate"))
    var negativeRateFor: [String] = []

    @Option(help: ArgumentHelp("With --negative-rate: another corpus's entity that holds one of the head's own words (inside the head's entities in at least this share of their occurrences in its training corpus) stays unknown, not O, in its negatives.",
                               discussion: "Entity names nest: the gene name \"human insulin\" holds the species word \"human\"; AnatEM's \"hepatocellular carcinoma\" (a pathological formation) is a disease. Without this, such entities are taught as O to the species and disease heads. 0.5 is a good start; the log lists the words kept per head."))
    var headWordShare: Double?

    @Option(help: "Stop after this many steps (the learning-rate schedule still spans all epochs).")
    var maxSteps: Int?

    @Option(help: "Evaluate on devel every this many steps (default: once per epoch).")
    var evaluateEvery: Int?

    @Option(help: "Use only the first N devel sentences of each task for model selection (faster evaluations).")
    var develLimit: Int?

    @Option(help: "Write a checkpoint every this many steps.")
    var checkpointEvery: Int = 500

    @Option(help: "Threads splitting each operation.")
    var threads: Int = 2

    @Flag(help: "Continue from --out/checkpoint if it holds a checkpoint of the same run.")
    var resume = false

    @Flag(help: "Print a JSON summary (steps, tokens/s, devel scores) on stdout at the end.")
    var json = false

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard (0..<1).contains(warmup) else { throw ValidationError("--warmup must be in [0, 1)") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1)") }
        guard maxLength >= 3 else { throw ValidationError("--max-length must be at least 3") }
        guard alpha >= 0 else { throw ValidationError("--alpha must not be negative") }
        guard negativeRate >= 0, negativeRate <= 4 else { throw ValidationError("--negative-rate must be between 0 and 4") }
        let rates = try negativeRatesByTask(for: tasks == nil ? nil : taskNames)
        if let headWordShare {
            guard headWordShare > 0, headWordShare <= 1 else { throw ValidationError("--head-word-share must be in (0, 1]") }
            guard negativeRate > 0 || rates.values.contains(where: { $0 > 0 }) else {
                throw ValidationError("--head-word-share needs --negative-rate above 0")
            }
        }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be at least 1") }
        if tasks != nil {
            guard !taskNames.isEmpty else { throw ValidationError("--tasks names no task") }
            guard Set(taskNames).count == taskNames.count else { throw ValidationError("--tasks names a task twice") }
        }
        if tasks != nil { _ = try extraCorpora(for: taskNames) }
    }

    /// `--extra` as task name → IOB files, each task checked against the heads trained.
    func extraCorpora(for names: [String]) throws(ValidationError) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for text in extra {
            let (task, file) = try keyValue(text, option: "--extra", form: "TASK=FILE", example: "disease=bc5cdr-disease.tsv")
            guard names.contains(task) else { throw ValidationError("--extra \(text): \(task) is not one of the heads trained (\(names.joined(separator: ",")))") }
            result[task, default: []].append(file)
        }
        return result
    }

    /// `--negative-rate-for` as task name → rate, each checked against the heads trained (nil:
    /// not known yet).
    func negativeRatesByTask(for names: [String]?) throws(ValidationError) -> [String: Double] {
        var rates: [String: Double] = [:]
        for text in negativeRateFor {
            let (task, value) = try keyValue(text, option: "--negative-rate-for", form: "TASK=RATE", example: "gene=0.75")
            guard let rate = Double(value) else { throw ValidationError("--negative-rate-for \(text): expected TASK=RATE, e.g. gene=0.75") }
            if let names, !names.contains(task) { throw ValidationError("--negative-rate-for \(text): \(task) is not one of the heads trained (\(names.joined(separator: ",")))") }
            guard rate >= 0, rate <= 4 else { throw ValidationError("--negative-rate-for \(text): the rate must be between 0 and 4") }
            guard rates.updateValue(rate, forKey: task) == nil else { throw ValidationError("--negative-rate-for names \(task) twice") }
        }
        return rates
    }

    /// Refuses an --out that is `model` itself: the run would write over the model it reads.
    func checkOutput(isNot model: String, option: String) throws {
        let resolved = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard resolved(out) != resolved(model) else { throw CommandError("--out \(out) is the \(option) directory; write the new model elsewhere") }
    }

    var taskNames: [String] { (tasks ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    /// The run's settings from the options, for the heads `names`.
    func settings(names: [String]) throws -> TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = epochs; settings.batchSize = batchSize; settings.learningRate = lr; settings.warmup = warmup
        settings.weightDecay = weightDecay; settings.maxGradientNorm = maxGradNorm; settings.dropout = dropout
        settings.maxLength = maxLength; settings.seed = seed; settings.alpha = alpha; settings.negativeRate = negativeRate
        let rates = try negativeRatesByTask(for: names)
        settings.negativeRateByTask = rates.isEmpty ? nil : rates
        settings.headWordShare = headWordShare
        settings.maxSteps = maxSteps; settings.evaluateEvery = evaluateEvery; settings.develLimit = develLimit
        settings.checkpointEvery = checkpointEvery; settings.threads = threads
        return settings
    }

    /// The corpora of `names` under --data (with --extra), encoded with the tokenizer of `tokenizerDirectory`.
    func loadTasks(_ names: [String], tokenizerDirectory: String) throws -> [TrainingTask] {
        let tokenizer: WordPieceTokenizer
        do { tokenizer = try WordPieceTokenizer.load(directory: tokenizerDirectory) } catch { throw CommandError("\(tokenizerDirectory): \(error.description)") }
        var loaded: [TrainingTask] = []
        let extras = try extraCorpora(for: names)
        for name in names {
            do {
                loaded.append(try TrainingTask.load(name: name, directory: data, extra: extras[name] ?? [], tokenizer: tokenizer, maxLength: maxLength,
                                                    develLimit: develLimit))
            } catch { throw CommandError(error.description) }
            let task = loaded.last!
            let more = task.train.windows.count - task.ownWindows
            printError("task \(name): \(task.train.sentences.count) train sentences (\(task.train.windows.count) windows"
                + (more > 0 ? ", \(more) from \(extras[name]!.joined(separator: ", "))" : "")
                + "), \(task.devel?.sentences.count ?? 0) devel, labels \(task.labels.joined(separator: " "))")
        }
        return loaded
    }

    /// Resumes when asked, trains to the end, and reports.
    func run(_ trainer: Trainer) throws {
        trainer.log = { printError($0) }
        do {
            if resume { _ = try trainer.resumeIfPossible() }
            try trainer.run()
        } catch { throw CommandError(error.description) }
        let history = trainer.history
        printError(String(format: "done: %d steps, %.0f tokens/s, best mean devel F1 %.2f at step %d, model in %@",
                          history.steps, history.tokensPerSecond, 100 * (history.bestMeanF1 ?? 0), history.bestStep ?? 0, out))
        if json {
            let summary: [String: Any] = [
                "steps": history.steps, "train_seconds": history.trainSeconds, "real_tokens": history.realTokens,
                "tokens_per_second": history.tokensPerSecond, "best_step": history.bestStep ?? 0,
                "best_mean_devel_f1": history.bestMeanF1 ?? 0, "threads": threads, "batch_size": batchSize,
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
