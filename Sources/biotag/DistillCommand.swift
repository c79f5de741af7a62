import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a smaller multi-task model (fewer encoder layers) from a larger one's soft labels.",
        discussion: """
            The student starts from the teacher: its embeddings, the encoder layers --keep-layers (default: --layers \
            of them evenly spaced, 0,2,4 of 6) and every head. Every batch then trains every head on every word \
            against the teacher's soft labels (temperature-scaled KL, --temperature, --soft-weight), plus each \
            corpus's gold labels for its own head (--gold-weight), and optionally the teacher's last hidden states \
            (--hidden-weight) and last layer's attention maps (--attention-weight). The corpora are those of `train` (--data, --tasks defaulting to the teacher's heads, \
            --extra); model selection, checkpoints and --resume work as in `train`. The teacher is any model \
            directory; its weights are read as fp32 (best: the fp32 source `make default-model` trains).
            """)

    @Option(help: "The model to learn from (a model directory with its heads).")
    var teacher: String

    @Option(help: "Encoder layers of the student.")
    var layers: Int = 3

    @Option(name: .customLong("keep-layers"), help: ArgumentHelp("The teacher's layers the student starts from, comma-separated (default: --layers evenly spaced from layer 0).", valueName: "list"))
    var keepLayers: String?

    @OptionGroup var losses: DistillationOptions

    @OptionGroup var training: TrainingOptions

    func validate() throws {
        guard layers >= 1 else { throw ValidationError("--layers must be at least 1") }
        if let keepLayers {
            let indices = commaList(keepLayers).map { Int($0) }
            guard !indices.isEmpty, indices.allSatisfy({ ($0 ?? -1) >= 0 }), Set(indices).count == indices.count else {
                throw ValidationError("--keep-layers \(keepLayers): expected distinct layer numbers from 0, comma-separated, e.g. 0,2,4")
            }
        }
    }

    /// The teacher's layers the student keeps.
    func keptLayers(teacherLayers: Int) throws -> [Int] {
        if let keepLayers { return commaList(keepLayers).compactMap { Int($0) } }
        guard layers < teacherLayers else { throw CommandError("--layers \(layers): the teacher has \(teacherLayers) layers; a student needs fewer") }
        return (0..<layers).map { $0 * teacherLayers / layers }
    }

    func run() throws {
        try training.checkOutput(isNot: teacher, option: "--teacher")
        let teacherModel: TrainableModel
        do { teacherModel = try TrainableModel.load(directory: teacher, tasks: nil, seed: 0) } catch { throw CommandError("the teacher: \(error.description)") }
        try noteHeadsLeftOut(of: teacher, by: "the student")
        let names = training.tasks == nil ? teacherModel.heads.map(\.name) : training.taskNames
        let kept = try keptLayers(teacherLayers: teacherModel.layers.count)
        var settings = try training.settings(names: names)
        settings.distillation = losses.settings
        let student: TrainableModel
        do { student = try teacherModel.keepingLayers(kept, heads: names) } catch { throw CommandError(error.description) }
        let loaded = try training.loadTasks(names, tokenizerDirectory: teacher)
        let trainer: Trainer
        do {
            trainer = try Trainer(model: student, tasks: loaded, settings: settings, output: training.out, tokenizerDirectory: teacher, teacher: teacherModel)
        } catch { throw CommandError(error.description) }
        printError("distilling \(names.joined(separator: ",")) from \(teacher) (\(teacherModel.layers.count) layers) into layers \(kept.map(String.init).joined(separator: ",")): "
            + "\(trainer.totalSteps) steps (\(trainer.stepsPerEpoch) per epoch), \(settings.threads) threads")
        try training.run(trainer)
    }
}

/// The losses a student learns from its teacher with (`distill`, and `prune`'s recovery).
struct DistillationOptions: ParsableArguments {
    @Option(help: "Temperature of both the teacher's and the student's distributions.")
    var temperature: Double = 2

    @Option(help: "Weight of the soft-label loss (each head's mean over words, summed over heads).")
    var softWeight: Double = 1

    @Option(help: "Weight of the gold labels' cross-entropy on each corpus's own head (0: soft labels only).")
    var goldWeight: Double = 1

    @Option(help: "Weight of the mean squared distance to the teacher's last hidden states (0: not used).")
    var hiddenWeight: Double = 0

    @Option(help: "Weight of the KL divergence of the last layer's attention maps from the teacher's, per head and token (0: not used; needs the teacher's number of heads).")
    var attentionWeight: Double = 0

    func validate() throws {
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive") }
        guard [softWeight, goldWeight, hiddenWeight, attentionWeight].allSatisfy({ $0 >= 0 && $0.isFinite }), softWeight + goldWeight > 0 else {
            throw ValidationError("--soft-weight, --gold-weight, --hidden-weight and --attention-weight must be finite and not negative, and soft or gold must be above 0")
        }
    }

    var settings: DistillationSettings {
        var distillation = DistillationSettings()
        distillation.temperature = temperature; distillation.softWeight = softWeight
        distillation.goldWeight = goldWeight; distillation.hiddenWeight = hiddenWeight
        distillation.attentionWeight = attentionWeight > 0 ? attentionWeight : nil
        return distillation
    }
}

/// Says on stderr which heads of `directory` a model trained from it (`distill`'s student,
/// `prune`'s result) does not carry: relation and sequence heads read the encoder's output, which
/// training changes, so they are trained again on the result.
func noteHeadsLeftOut(of directory: String, by result: String) throws {
    let left: [TaskSpec]
    do { left = try TrainableModel.heldBack(directory: directory) } catch { throw CommandError("\(directory): \(error.description)") }
    guard !left.isEmpty else { return }
    let names = left.map { "'\($0.name)' (\($0.kind.rawValue))" }.joined(separator: ", ")
    // Relation heads train on a finished model; no command trains a sequence classification head yet.
    let hint = left.contains { $0.kind == .relation }
        ? ": train \(left.count == 1 ? "it" : "relation heads") on the result with `biotag train-relations --model OUT`" : ""
    printError("note: \(result) does not carry \(directory)'s \(names)\(hint)")
}
