import ArgumentParser
import Foundation
import Models

extension WeightStorage: ExpressibleByArgument {}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a model directory with its dense weights stored as fp32, fp16 or int8.",
        discussion: """
            Only the storage changes: every form loads as fp32 and runs the same code. int8 (one scale per output row) \
            makes the file about a quarter of fp32, int8-g32 (one scale per 32 values) 26.6% with a finer step, fp16 half. \
            Check the accuracy with `biotag eval` on both directories.
            """)

    @Option(help: "Model directory to read.")
    var model: String

    @Option(help: "Directory to write (created; its model files are replaced).")
    var out: String

    @Option(help: ArgumentHelp("Storage of the rank-2 weights (embedding tables and dense layers); biases and LayerNorm stay fp32.", valueName: "f32|f16|int8|int8-g32"))
    var weights: WeightStorage

    @Option(name: .customLong("weights-for"), help: ArgumentHelp(
        "Another storage for the weights whose name contains PART, e.g. attention=f16 or heads.=f32 (repeatable; the last match wins). "
            + "Keeps the layers that lose accuracy in int8 precise at a few MiB each.", valueName: "PART=FORM"))
    var weightsFor: [String] = []

    @Option(name: .customLong("label-bias"), help: ArgumentHelp(
        "Add DELTA to one label's logit bias in a head's classifier, e.g. gene:O=1 (repeatable). "
            + "A positive DELTA on O makes the head tag less: a decision threshold, to be chosen on devel (docs/RESULTS.md).", valueName: "TASK:LABEL=DELTA"))
    var labelBias: [String] = []

    @Option(help: ArgumentHelp(
        "Sentences to calibrate the encoder's int8-stored layers on: an IOB file (token<TAB>label lines) or plain text, one sentence per line (repeatable: the sentences are shared out evenly over the files).",
        discussion: "Each linear layer of the encoder that the plan stores as int8 or int8-g32 is rounded by GPTQ (each rounding error moved onto the weights not yet rounded, weighed by the layer's inputs on these sentences) instead of to the nearest value: its outputs stay closer to fp32. Embedding tables and heads are rounded to nearest.",
        valueName: "file"))
    var calibration: [String] = []

    @Option(help: "Calibrate on at most this many sentences.")
    var calibrationLimit: Int = 512

    @Option(help: ArgumentHelp("Name the output model in its tasks.json (annotation runs record it).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Version the output model in its tasks.json (annotation runs record it; a new version makes a new catalog run).", valueName: "version"))
    var modelVersion: String?

    func validate() throws {
        guard calibrationLimit >= 1 else { throw ValidationError("--calibration-limit must be at least 1") }
        for text in weightsFor where StoragePlan.rule(text) == nil {
            throw ValidationError("--weights-for \(text): expected PART=FORM with FORM one of \(WeightStorage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for text in labelBias where LabelBias(text) == nil {
            throw ValidationError("--label-bias \(text): expected TASK:LABEL=DELTA with DELTA a finite number, e.g. gene:O=1")
        }
    }

    func run() throws {
        let plan = StoragePlan(default: weights, rules: weightsFor.compactMap(StoragePlan.rule))
        var (tensors, metadata, source) = try ModelRewrite.tensors(of: model) { _ in true }
        // Only the storage changes here: a converted model computes in fp32 (`biotag quantize` sets the precision).
        metadata[ComputePrecision.metadataKey] = nil
        if !labelBias.isEmpty {
            let biases = labelBias.compactMap(LabelBias.init)
            try LabelBias.apply(biases, to: &tensors, model: model)
            metadata[LabelBias.metadataKey] = ((metadata[LabelBias.metadataKey].map { [$0] } ?? []) + biases.map(\.description)).joined(separator: ", ")
        }
        let factors = calibration.isEmpty ? [:] : try Self.gptqFactors(model: model, plan: plan, tensors: tensors, files: calibration, limit: calibrationLimit)
        let description = plan.description + (factors.isEmpty ? "" : " (int8 encoder layers by GPTQ)")
        try ModelRewrite.write(plan.convert(tensors, factors: factors), metadata: metadata.merging(["biotag.weights": description]) { $1 },
                               from: model, to: out, source: source, summary: "\(description) weights")
        if name != nil || modelVersion != nil {
            let tasksPath = (out as NSString).appendingPathComponent("tasks.json")
            do {
                var file = try TaskFile.load(path: tasksPath)
                file.name = name ?? file.name
                file.modelVersion = modelVersion ?? file.modelVersion
                try file.write(to: tasksPath)
            } catch { throw CommandError("\(tasksPath): cannot set the name and version: \(error)") }
        }
    }
}

extension Convert {
    /// The GPTQ factor of every encoder linear layer the plan stores as int8, by tensor name,
    /// from the fp32 model's inputs to it on the calibration sentences.
    static func gptqFactors(model directory: String, plan: StoragePlan, tensors: [TensorRecord], files: [String], limit: Int) throws -> [String: GPTQFactor] {
        let model: MultiTaskModel
        do { model = try MultiTaskModel(directory: directory, precision: .fp32) } catch { throw CommandError(error.description) }
        if model.weightsFile.names.contains(where: { $0.hasSuffix(EncoderWeights.smoothSuffix) }) {
            throw CommandError("--calibration: \(directory) is smoothed for int8 GEMMs (`biotag quantize --calibration`): convert its fp32 source instead")
        }
        let names = EncoderWeights.Names(file: model.weightsFile, architecture: model.config.architecture)
        let parts = names.layerParts
        let layerParts: [(ActivationRanges.Part, String)] = [(.queryKeyValue, parts.0), (.queryKeyValue, parts.1), (.queryKeyValue, parts.2),
                                                             (.attentionOutput, parts.3), (.intermediate, parts.5), (.output, parts.6)]
        let byName = Dictionary(tensors.map { ($0.name, $0) }) { first, _ in first }
        var wanted: [(layer: Int, part: ActivationRanges.Part, name: String)] = []
        for layer in 0..<model.config.layers {
            for (part, prefix) in layerParts {
                let name = names.layer(layer, prefix) + ".weight"
                guard let tensor = byName[name], StoragePlan.isConverted(tensor), [.int8, .int8g32].contains(plan.storage(for: name)) else { continue }
                wanted.append((layer, part, name))
            }
        }
        guard !wanted.isEmpty else {
            throw CommandError("--calibration: the plan (\(plan.description)) stores no encoder linear layer as int8 or int8-g32, the layers GPTQ rounds")
        }
        let sentences = try Calibration.sentences(files: files, limit: limit)
        let measured = try Calibration.measure(model, sentences: sentences, grams: Set(wanted.map(\.part)))
        printError("GPTQ for \(wanted.count) layers, calibrated on \(sentences.count) sentences (\(measured.tokens) tokens) from \(files.joined(separator: ", "))")
        var factors: [String: GPTQFactor] = [:]
        var shared: [String: GPTQFactor] = [:]  // Q, K and V read the same input
        for entry in wanted {
            let key = "\(entry.layer).\(entry.part.rawValue)"
            guard let gram = measured.grams[entry.layer][entry.part.rawValue],
                  let factor = shared[key] ?? GPTQFactor(gram: gram, width: Int(Double(gram.count).squareRoot())) else {
                throw CommandError("--calibration: the inputs of \(entry.name) give no usable Hessian (not positive definite even damped): calibrate on more sentences")
            }
            shared[key] = factor
            factors[entry.name] = factor
        }
        return factors
    }
}

/// `--label-bias TASK:LABEL=DELTA`: a shift of one label's logit in a head's classifier bias.
struct LabelBias: CustomStringConvertible {
    /// The file metadata that lists every shift a model's biases carry.
    static let metadataKey = "biotag.label-bias"

    let task: String
    let label: String
    let delta: Float

    init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), let equals = text.lastIndex(of: "="), colon < equals else { return nil }
        let task = String(text[..<colon]), label = String(text[text.index(after: colon)..<equals])
        guard !task.isEmpty, !label.isEmpty, let delta = Float(text[text.index(after: equals)...]), delta.isFinite else { return nil }
        (self.task, self.label, self.delta) = (task, label, delta)
    }

    var description: String { "\(task):\(label)=\(delta >= 0 ? "+" : "")\(delta)" }

    /// Adds each shift to the fp32 bias of its head's classifier among `tensors`.
    static func apply(_ biases: [LabelBias], to tensors: inout [TensorRecord], model: String) throws {
        let path = (model as NSString).appendingPathComponent("tasks.json")
        let specs: [TaskSpec]
        do { specs = try TaskFile.load(path: path).tasks } catch { throw CommandError("--label-bias needs the model's heads: \(error.description)") }
        for bias in biases {
            guard let spec = specs.first(where: { $0.name == bias.task }) else {
                throw CommandError("--label-bias \(bias.task):…: \(path) has no task '\(bias.task)' (tasks: \(specs.map(\.name).joined(separator: ", ")))")
            }
            guard let index = spec.labels.firstIndex(of: bias.label) else {
                throw CommandError("--label-bias \(bias.task):\(bias.label): task '\(bias.task)' has no label '\(bias.label)' (labels: \(spec.labels.joined(separator: ", ")))")
            }
            let name = (spec.tensors["classifier"] ?? "") + ".bias"
            guard let slot = tensors.firstIndex(where: { $0.name == name }), tensors[slot].dtype == .f32, tensors[slot].shape == [spec.labels.count] else {
                throw CommandError("--label-bias \(bias.task):\(bias.label): the model has no fp32 tensor \(name) of \(spec.labels.count) values")
            }
            var values = tensors[slot].bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            values[index] += bias.delta
            tensors[slot] = TensorRecord(name: name, shape: [values.count], floats: values)
        }
    }
}
