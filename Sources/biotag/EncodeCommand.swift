import ArgumentParser
import Foundation
import Models
import Tokenization

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the encoder over JSON lines and save each line's last hidden state.",
        discussion: "Line k of --input ({\"text\": ...}) becomes tensor s{k}, float32 [tokens, hidden], of the --output safetensors file.")

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
        guard let handle = FileHandle(forReadingAtPath: input) else { throw CommandError("cannot read \(input)") }
        let runner = try MultiTaskRunner(model: loaded, threads: runtime.threads)
        defer { runner.shutdown() }
        var reader = LineReader(handle: handle)
        var records: [TensorRecord] = []
        let hidden = loaded.config.hiddenSize
        while let line = try reader.next() {
            let text = try textField(of: line, lineNumber: reader.lineNumber)
            var encoding = loaded.tokenizer.encode(text)
            if encoding.count > loaded.config.maxPositions {
                guard truncate else {
                    throw CommandError("\(input):\(reader.lineNumber): \(encoding.count) tokens, the model has \(loaded.config.maxPositions) positions (use --truncate)")
                }
                encoding = loaded.tokenizer.truncate(encoding, maxLength: loaded.config.maxPositions)
            }
            let states = try runner.encoder.forward(PackedBatch([encoding.ids]))
            records.append(TensorRecord(name: "s\(reader.lineNumber - 1)", shape: [encoding.count, hidden],
                                        floats: UnsafeBufferPointer(start: states, count: encoding.count * hidden)))
        }
        try SafetensorsWriter.write(records, metadata: ["format": "pt", "producer": "biotag encode"], to: output)
        printError("wrote \(records.count) tensors to \(output)")
    }
}
