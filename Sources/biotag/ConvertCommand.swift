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

    @Option(name: .customLong("keep-layers"), help: ArgumentHelp(
        "Keep only these encoder layers, in this order (e.g. 0,2,4 of 6): a smaller model whose layers start from the source's.",
        discussion: "The embeddings and heads are kept as they are; config.json gets the new layer count. The starting point of a student (`biotag train --base`), which then learns to work with fewer layers.",
        valueName: "i,j,..."))
    var keepLayers: String?

    func validate() throws {
        if let keepLayers {
            let indices = commaList(keepLayers).map { Int($0) }
            guard !indices.isEmpty, indices.allSatisfy({ $0 != nil && $0! >= 0 }), Set(indices).count == indices.count else {
                throw ValidationError("--keep-layers \(keepLayers): expected distinct layer numbers from 0, comma-separated, e.g. 0,2,4")
            }
        }
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
        var layers: [Int]?
        if let keepLayers {
            let kept = commaList(keepLayers).compactMap { Int($0) }
            let count: Int
            do { count = try EncoderConfig.load(path: (model as NSString).appendingPathComponent("config.json")).layers } catch { throw CommandError("\(model): \(error)") }
            if let outside = kept.first(where: { $0 >= count }) {
                throw CommandError("--keep-layers: \(model) has \(count) layers (0 to \(count - 1)), not \(outside)")
            }
            tensors = ModelRewrite.keepingLayers(kept, of: tensors)
            metadata[ModelMetadataKey.layersKept] = "\(kept.map(String.init).joined(separator: ",")) of \(count)"
            layers = kept
        }
        try write(tensors, metadata: metadata, plan: plan, source: source, layers: layers)
    }

    private func write(_ tensors: [TensorRecord], metadata: [String: String], plan: StoragePlan, source: String, layers: [Int]?) throws {
        let sizes = try ModelRewrite.write(plan.convert(tensors), metadata: metadata.merging([ModelMetadataKey.weights: plan.description]) { $1 },
                                           from: model, to: out, source: source)
        printSizes(sizes, summary: "\(plan.description) weights" + (layers.map { ", \($0.count) layers" } ?? ""))
        if let layers {
            let configPath = (out as NSString).appendingPathComponent("config.json")
            do { try ModelRewrite.keepLayers(layers, config: configPath) } catch { throw CommandError("\(configPath): \(error)") }
        }
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
