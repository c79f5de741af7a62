import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Tensors

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model directory and what this CPU offers it.")

    @OptionGroup var model: ModelOptions

    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        let c = loaded.config
        let parameters = loaded.weightsFile.header.tensors.values.reduce(0) { $0 + $1.elementCount }
        let normalizer = loaded.tokenizer.normalizer
        print("""
            model:          \(loaded.directory)
            architecture:   \(c.architecture.rawValue)\(c.checkpointClass.map { " (\($0))" } ?? "")
            layers:         \(c.layers), hidden \(c.hiddenSize), heads \(c.heads), intermediate \(c.intermediateSize), activation \(c.activation.rawValue)
            \(c.isPruned ? "pruned:         heads per layer \((0..<c.layers).map { String(c.heads(layer: $0)) }.joined(separator: ",")), FFN widths \((0..<c.layers).map { String(c.intermediateSize(layer: $0)) }.joined(separator: ","))\n" : "")positions:      \(c.maxPositions), token types \(c.typeVocabularySize), vocabulary \(c.vocabularySize)
            parameters:     \(parameters) in model.safetensors (\(loaded.weightsFile.header.tensors.count) tensors)
            tokenizer:      WordPiece, \(loaded.tokenizer.vocabulary.count) entries, \(normalizer.lowercase ? "uncased" : "cased")\(normalizer.stripAccents ? ", accents stripped" : "")
            compute:        \(loaded.encoder.precision.rawValue)\(loaded.encoder.quantizedLayerCount > 0 ? " (\(loaded.encoder.quantizedLayerCount) of \(4 * c.layers) linear layers int8\(CPUFeatures.hasVNNI ? "" : "; no VNNI: weights kept clear of 16-bit overflow"))" : "")
            \(Self.int8Lines(loaded))tasks:          \(loaded.tasks.isEmpty ? "none (bare encoder)" : loaded.tasks.map { "\($0.name) [\($0.spec.kind.rawValue), \($0.spec.labels.count) labels\($0.spec.innerSize.map { ", inner \($0)" } ?? "")]" }.joined(separator: ", "))
            cpu:            oneDNN \(CPUFeatures.dnnlVersion), instruction set \(CPUFeatures.instructionSet)
            """)
    }

    /// What each quantized layer shape runs (int8, fp32, or fp32 below a row count) and, where it
    /// was measured, the timings that chose it; empty unless the model runs int8.
    static func int8Lines(_ model: MultiTaskModel) -> String {
        let encoder = model.encoder
        guard let policy = encoder.int8Policy, !encoder.int8Layers.isEmpty else { return "" }
        let how = switch policy {
        case .measured: "measured at load on one thread (best of 3 at \(Int8LayerChoice.rowCounts.map(String.init).joined(separator: ", ")) rows)"
        case .int8: "int8 everywhere (\(Int8LayerPolicy.environmentKey)=measured times it against fp32)"
        case .fp32Below: "pinned by \(Int8LayerPolicy.environmentKey)=\(policy)"
        }
        var lines = "int8 layers:    \(how)\n"
        for choice in encoder.int8Layers {
            let layers = choice.layers.count == 1 ? "layer \(choice.layers[0])" : "\(choice.layers.count) layers"
            lines += "  \(choice.part) \(choice.outFeatures)×\(choice.inFeatures) (\(layers)): \(choice.summary)"
            if !choice.timings.isEmpty {
                let times = choice.timings.map { t in
                    "\(t.rows): \(String(format: "%.0f", t.int8 * 1e6))/\(String(format: "%.0f", t.fp32 * 1e6))"
                }
                lines += "; µs int8/fp32 by rows \(times.joined(separator: ", "))"
            }
            lines += "\n"
        }
        let mlpHeads = model.tasks.contains { if case let .token(head) = $0.head { head.dense != nil } else { false } }
        if mlpHeads, let rows = encoder.headInt8FromRows {
            lines += "  token heads' first layers: as ffn in of layer 0: \(Int8LayerChoice.describe(int8FromRows: rows))\n"
        }
        return lines
    }
}
