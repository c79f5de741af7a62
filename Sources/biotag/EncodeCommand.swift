import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Tokenization

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the encoder over JSON lines and save each line's last hidden state.",
        discussion: "Line k of --input ({\"text\": ...}) becomes tensor s{k}, float32 [tokens, hidden], of the --output safetensors file. Lines are run in length-sorted batches packed without padding; batching does not change a line's result.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "JSON-lines input, one {\"text\": ...} per line.")
    var input: String

    @Option(help: "safetensors file to write (replaced atomically when complete).")
    var output: String

    @Flag(help: "Cut texts longer than the model's positions to their first tokens instead of failing.")
    var truncate = false

    func run() throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: model.directory) } catch { throw CommandError(error.description) }
        var reader = try TextLines(path: input)
        var sequences: [[Int32]] = []
        while let text = try reader.next() {
            var encoding = loaded.tokenizer.encode(text)
            if encoding.count > loaded.config.maxPositions {
                guard truncate else {
                    throw CommandError("\(input):\(reader.lineNumber): \(encoding.count) tokens, the model has \(loaded.config.maxPositions) positions (use --truncate)")
                }
                encoding = loaded.tokenizer.truncate(encoding, maxLength: loaded.config.maxPositions)
            }
            sequences.append(encoding.ids)
        }
        let (threads, workers) = runtime.resolved(threads: 2, workers: 1)
        let byLine = try loaded.encoder.hiddenStates(sequences, threads: threads, workers: workers)
        let records = byLine.enumerated().map { line, values in
            TensorRecord(name: "s\(line)", shape: [sequences[line].count, loaded.config.hiddenSize], floats: values)
        }
        do { try SafetensorsWriter.write(records, metadata: ["format": "pt", "producer": "biotag encode"], to: output) } catch {
            throw CommandError(error.description)
        }
        printError("wrote \(records.count) tensors to \(output)")
    }
}
