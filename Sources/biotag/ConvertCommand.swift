import ArgumentParser
import CommandLineSupport
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

    @Option(help: ArgumentHelp("Name the output model in its tasks.json (annotation runs record it).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Version the output model in its tasks.json (annotation runs record it; a new version makes a new catalog run).", valueName: "version"))
    var modelVersion: String?

    func validate() throws {
        for text in weightsFor where StoragePlan.rule(text) == nil {
            throw ValidationError("--weights-for \(text): expected PART=FORM with FORM one of \(WeightStorage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for text in labelBias where LabelBias(text) == nil {
            throw ValidationError("--label-bias \(text): expected TASK:LABEL=DELTA with DELTA a finite number, e.g. gene:O=1")
        }
    }

    func run() throws {
        do {
            try convert()
        } catch let error as ModelWriteError { throw CommandError(error.description) }
    }

    private func convert() throws {
        let plan = StoragePlan(default: weights, rules: weightsFor.compactMap(StoragePlan.rule))
        var (tensors, metadata, source) = try ModelRewrite.tensors(of: model) { _ in true }
        // Only the storage changes here: a converted model computes in fp32 (`biotag quantize` sets the precision).
        metadata[ComputePrecision.metadataKey] = nil
        if !labelBias.isEmpty {
            let biases = labelBias.compactMap(LabelBias.init)
            try LabelBias.apply(biases, to: &tensors, model: model)
            metadata[ModelMetadataKey.labelBias] = ((metadata[ModelMetadataKey.labelBias].map { [$0] } ?? []) + biases.map(\.description)).joined(separator: ", ")
        }
        let sizes = try ModelRewrite.write(plan.convert(tensors), metadata: metadata.merging([ModelMetadataKey.weights: plan.description]) { $1 },
                                           from: model, to: out, source: source)
        printSizes(sizes, summary: "\(plan.description) weights")
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
