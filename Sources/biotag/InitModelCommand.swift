import ArgumentParser
import CommandLineSupport
import Foundation
import Models

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a randomly initialised encoder of a standard shape (for speed measurements).",
        discussion: "Weights are N(0, 0.02), LayerNorm 1/0, biases 0, seeded: the same seed gives the same file. Accuracy is meaningless; shapes and cost are real.")

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        case bertBase = "bert-base", minilm
        var config: EncoderConfig {
            switch self {
            case .bertBase: EncoderConfig(architecture: .bert, vocabularySize: 30522, hiddenSize: 768, layers: 12, heads: 12, intermediateSize: 3072)
            case .minilm: EncoderConfig(architecture: .bert, vocabularySize: 30522, hiddenSize: 384, layers: 6, heads: 12, intermediateSize: 1536)
            }
        }
    }

    @Option(help: "Shape: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: Preset

    @Option(help: "Output directory (created).")
    var out: String

    @Option(help: "vocab.txt to ship with it (30522 entries, uncased); defaults to the fetched all-MiniLM-L6-v2's.")
    var vocab: String?

    @Option(help: "Random seed.")
    var seed: UInt64 = 42

    func run() throws {
        let config = preset.config
        let vocabPath = vocab ?? (ModelLocations.fetched("all-MiniLM-L6-v2") as NSString).appendingPathComponent("vocab.txt")
        guard let vocabText = FileManager.default.contents(atPath: vocabPath) else {
            throw CommandError("cannot read \(vocabPath) (run `biotag fetch-model minilm` or pass --vocab)")
        }
        let entries = String(decoding: vocabText, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).count - 1
        guard entries == config.vocabularySize else {
            throw CommandError("\(vocabPath) has \(entries) entries, the \(preset.rawValue) shape needs \(config.vocabularySize)")
        }
        var random = SeededNormal(seed: seed)
        let h = config.hiddenSize, inner = config.intermediateSize
        var tensors: [TensorRecord] = []
        func normal(_ name: String, _ shape: [Int]) {
            let values = (0..<shape.reduce(1, *)).map { _ in Float(random.next() * 0.02) }
            tensors.append(TensorRecord(name: name, shape: shape, floats: values))
        }
        func constant(_ name: String, _ count: Int, _ value: Float) {
            tensors.append(TensorRecord(name: name, shape: [count], floats: [Float](repeating: value, count: count)))
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) { normal(name + ".weight", [out, inFeatures]); constant(name + ".bias", out, 0) }
        func norm(_ name: String) { constant(name + ".weight", h, 1); constant(name + ".bias", h, 0) }
        normal("embeddings.word_embeddings.weight", [config.vocabularySize, h])
        normal("embeddings.position_embeddings.weight", [config.maxPositions, h])
        normal("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, h])
        norm("embeddings.LayerNorm")
        for layer in 0..<config.layers {
            let p = "encoder.layer.\(layer)."
            for part in ["query", "key", "value"] { linear(p + "attention.self." + part, out: h, in: h) }
            linear(p + "attention.output.dense", out: h, in: h)
            norm(p + "attention.output.LayerNorm")
            linear(p + "intermediate.dense", out: inner, in: h)
            linear(p + "output.dense", out: h, in: inner)
            norm(p + "output.LayerNorm")
        }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: out, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "producer": "biotag init-model \(preset.rawValue) seed \(seed)"], to: path("model.safetensors"))
        let configData = try JSONSerialization.data(withJSONObject: config.jsonObject(), options: [.prettyPrinted, .sortedKeys])
        try configData.write(to: URL(fileURLWithPath: path("config.json")))
        try vocabText.write(to: URL(fileURLWithPath: path("vocab.txt")))
        try Data(#"{"do_lower_case": true, "tokenizer_class": "BertTokenizer", "model_max_length": 512}"#.utf8)
            .write(to: URL(fileURLWithPath: path("tokenizer_config.json")))
        printError("wrote a random \(preset.rawValue) encoder (\(tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters) to \(out)")
    }
}
