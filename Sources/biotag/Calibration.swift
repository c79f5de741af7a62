import Foundation
import Models

/// The calibration sentences of `biotag quantize --calibration` and `biotag convert --calibration`,
/// and the fp32 pass that measures each linear layer's inputs on them.
enum Calibration {
    /// Up to `limit` sentences, shared out evenly over the files: an IOB file (token<TAB>label
    /// lines; its sentences' tokens joined by spaces) or plain text, one sentence per line.
    static func sentences(files: [String], limit: Int) throws -> [String] {
        var sentences: [String] = []
        let share = max(1, limit / files.count)
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot read the calibration sentences") }
            guard let text = String(validating: data, as: UTF8.self) else { throw CommandError("\(path): invalid UTF-8") }
            let isIOB = text.split(separator: "\n", maxSplits: 50).contains { $0.contains("\t") }
            let found = isIOB ? try IOBSentences.read(path: path) : text.split(separator: "\n").map(String.init)
            let usable = found.filter { !$0.allSatisfy(\.isWhitespace) }
            guard !usable.isEmpty else { throw CommandError("\(path): no calibration sentences") }
            sentences += usable.prefix(share)
        }
        return sentences
    }

    /// Runs `model`'s encoder in fp32 over the sentences (each cut at 128 wordpieces) and returns
    /// what it recorded of every linear layer's inputs: channel maxima, and the Gram matrices of
    /// `grams`.
    static func measure(_ model: MultiTaskModel, sentences: [String], grams: Set<ActivationRanges.Part> = []) throws -> ActivationRanges {
        let runner: EncoderRunner
        do { runner = try EncoderRunner(weights: model.encoder, threads: 2) } catch { throw CommandError("\(error)") }
        defer { runner.shutdown() }
        let ranges = ActivationRanges(config: model.config, grams: grams)
        runner.ranges = ranges
        let ids = sentences.map { model.tokenizer.truncate(model.tokenizer.encode($0), maxLength: min(128, model.config.maxPositions)).ids }
        for start in stride(from: 0, to: ids.count, by: 16) {
            _ = try runner.forward(PackedBatch(Array(ids[start..<min(start + 16, ids.count)])))
        }
        return ranges
    }
}
