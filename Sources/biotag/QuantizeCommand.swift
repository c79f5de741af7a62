import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training
import Tensors

extension ComputePrecision: ExpressibleByArgument {}

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a model directory set to run its encoder's linear layers in int8 or bf16.",
        discussion: """
            int8: each linear layer of the encoder is stored as int8 with one scale per output channel and runs as a u8 × s8 GEMM, \
            its input quantized per token as it runs (dynamic quantization). The word embeddings are stored as int8 with one \
            scale per row (a lookup: a row is widened when a token reads it). Heads, biases and LayerNorm stay as they are. \
            On CPUs without VNNI, oneDNN's int8 GEMM adds pairs of products in 16 bits, so when the model loads each weight \
            row gets the finest grid from ±63 to ±127 that cannot overflow. \
            bf16: the encoder's linear layers are stored as bf16 and run as bf16 GEMMs on CPUs with AVX512-BF16; \
            elsewhere the model runs in fp32 and says so once. \
            Check the accuracy with `biotag eval` on both directories.
            """)

    @Option(help: "Model directory to read (fp32, or any storage `biotag convert` writes).")
    var model: String

    @Option(help: ArgumentHelp("How the encoder's linear layers compute: int8 or bf16.", valueName: "int8|bf16"))
    var mode: ComputePrecision

    @Option(help: "Directory to write (created; its model files are replaced).")
    var out: String

    @Option(help: ArgumentHelp(
        "Keep the weights whose name contains PART as they are (repeatable), e.g. layer.5.output.dense for a layer too sensitive to quantize, or word_embeddings.",
        valueName: "PART"))
    var keep: [String] = []

    @Option(help: ArgumentHelp(
        "Sentences to calibrate int8 on: an IOB file (token<TAB>label lines) or plain text, one sentence per line (repeatable: the sentences are shared out evenly over the files).",
        discussion: "Each linear layer's input channels are measured on them, and a factor per channel moves activation outliers into the weights (SmoothQuant): the int8 model then stays much closer to fp32. Without it, activations are quantized as they are.",
        valueName: "file"))
    var calibration: [String] = []

    @Option(help: "Calibrate on at most this many sentences.")
    var calibrationLimit: Int = 512

    @Option(help: "Smoothing strength α: factor = max|x|^α / max|w|^(1-α) per input channel (0 leaves the activations alone).")
    var smoothing: Float = 0.5

    func validate() throws {
        if mode == .fp32 { throw ValidationError("--mode fp32: use `biotag convert --weights f32` for an fp32 copy") }
        if !calibration.isEmpty && mode != .int8 { throw ValidationError("--calibration applies to --mode int8 only") }
        guard calibrationLimit >= 1 else { throw ValidationError("--calibration-limit must be at least 1") }
        guard (0...1).contains(smoothing) else { throw ValidationError("--smoothing must be between 0 and 1, got \(smoothing)") }
    }

    func run() throws {
        do {
            var factors: [String: [Float]] = [:]
            if !calibration.isEmpty {
                let sentences = try Self.calibrationSentences(files: calibration, limit: calibrationLimit)
                let tokens: Int
                (factors, tokens) = try ModelQuantizer.smoothingFactors(model: model, sentences: sentences, alpha: smoothing)
                printError("calibrated on \(sentences.count) sentences (\(tokens) tokens) from \(calibration.joined(separator: ", "))")
            }
            let (sizes, summary) = try ModelQuantizer.write(model: model, mode: mode, out: out, keep: keep, smoothing: factors)
            printSizes(sizes, summary: summary)
        } catch let error as ModelWriteError { throw CommandError(error.description) }
    }

    /// The calibration sentences: an IOB file's sentences (words joined by spaces) or a text file's
    /// lines, shared out evenly over the files.
    static func calibrationSentences(files: [String], limit: Int) throws -> [String] {
        var sentences: [String] = []
        let share = max(1, limit / files.count)
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot read the calibration sentences") }
            guard let text = String(validating: data, as: UTF8.self) else { throw CommandError("\(path): invalid UTF-8") }
            let isIOB = text.split(separator: "\n", maxSplits: 50).contains { $0.contains("\t") }
            let found: [String]
            do { found = isIOB ? try IOBReader.sentenceTexts(path: path) : text.split(separator: "\n").map(String.init) } catch { throw CommandError(error.description) }
            let usable = found.filter { !$0.allSatisfy(\.isWhitespace) }
            guard !usable.isEmpty else { throw CommandError("\(path): no calibration sentences") }
            sentences += usable.prefix(share)
        }
        return sentences
    }
}
