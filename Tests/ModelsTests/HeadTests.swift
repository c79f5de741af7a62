import Foundation
import Testing
import TestSupport
import Models
import Tensors

/// Heads and the multi-task container against a naive loop over the encoder's hidden states.
@Suite struct HeadTests {
    /// A copy of the small cased BERT fixture with two extra heads in tasks.json: an MLP token
    /// head and a sequence head with a tanh pooler.
    static func makeMultiTaskDirectory() throws -> (String, [String: [Float]]) {
        let source = TestPaths.fixture("arch/cased-bert")
        let directory = NSTemporaryDirectory() + "biotag-heads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["config.json", "vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: directory + "/" + name)
        }
        let original = try SafetensorsFile(path: source + "/model.safetensors")
        var records: [TensorRecord] = try original.names.map { name in
            let info = try original.info(name)
            return TensorRecord(name: name, dtype: info.dtype, shape: info.shape, bytes: Data(try original.rawBytes(name)))
        }
        var generator = SplitMix64(seed: 7)
        var values: [String: [Float]] = [:]
        func add(_ name: String, _ shape: [Int]) {
            let data = (0..<shape.reduce(1, *)).map { _ in Float.random(in: -0.2...0.2, using: &generator) }
            values[name] = data
            records.append(TensorRecord(name: name, shape: shape, floats: data))
        }
        add("heads.disease.dense.weight", [128, 128]); add("heads.disease.dense.bias", [128])
        add("heads.disease.classifier.weight", [3, 128]); add("heads.disease.classifier.bias", [3])
        add("heads.topic.pooler.weight", [128, 128]); add("heads.topic.pooler.bias", [128])
        add("heads.topic.classifier.weight", [2, 128]); add("heads.topic.classifier.bias", [2])
        try SafetensorsWriter.write(records, to: directory + "/model.safetensors")
        let tasks = TaskFile(tasks: [
            TaskSpec(name: "disease", kind: .tokenClassification, labels: ["O", "B-Disease", "I-Disease"], head: .mlp, activation: .gelu,
                     tensors: ["dense": "heads.disease.dense", "classifier": "heads.disease.classifier"]),
            TaskSpec(name: "topic", kind: .sequenceClassification, labels: ["no", "yes"],
                     tensors: ["pooler": "heads.topic.pooler", "classifier": "heads.topic.classifier"], poolerActivation: .tanh),
            TaskSpec(name: "ner", kind: .tokenClassification, labels: (0..<5).map { "LABEL_\($0)" }, head: .linear, tensors: ["classifier": "classifier"]),
        ])
        try tasks.write(to: directory + "/tasks.json")
        return (directory, values)
    }

    static func linear(_ x: [Float], _ w: [Float], _ b: [Float], inFeatures: Int) -> [Float] {
        let out = b.count
        return (0..<out).map { o in zip(x, w[(o * inFeatures)..<((o + 1) * inFeatures)]).reduce(b[o]) { $0 + $1.0 * $1.1 } }
    }

    @Test func everyHeadInOnePassMatchesANaiveLoop() throws {
        let (directory, values) = try Self.makeMultiTaskDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try MultiTaskModel(directory: directory)
        #expect(model.tasks.map(\.name) == ["disease", "topic", "ner"])
        let runner = try MultiTaskRunner(model: model, threads: 2)
        defer { runner.shutdown() }
        let texts = ["Risk reversals in predictive testing for Huntington disease .", "A", "BRCA1 carriers"]
        let batch = PackedBatch(texts.map { model.tokenizer.encode($0).ids })
        let output = try runner.forward(batch)
        let hidden = Array(UnsafeBufferPointer(start: try runner.encoder.forward(batch), count: batch.tokenCount * 128))
        let disease = try #require(output.logits["disease"]), topic = try #require(output.logits["topic"])
        var worst: Float = 0
        for row in 0..<batch.tokenCount {
            let h = Array(hidden[(row * 128)..<((row + 1) * 128)])
            let inner = Self.linear(h, values["heads.disease.dense.weight"]!, values["heads.disease.dense.bias"]!, inFeatures: 128)
                .map { 0.5 * $0 * (1 + Float(erf(Double($0) / 2.0.squareRoot()))) }
            let expected = Self.linear(inner, values["heads.disease.classifier.weight"]!, values["heads.disease.classifier.bias"]!, inFeatures: 128)
            for label in 0..<3 { worst = max(worst, abs(expected[label] - disease[row * 3 + label])) }
        }
        for s in 0..<batch.count {
            let first = batch.starts[s]
            let h = Array(hidden[(first * 128)..<((first + 1) * 128)])
            let pooled = Self.linear(h, values["heads.topic.pooler.weight"]!, values["heads.topic.pooler.bias"]!, inFeatures: 128).map { tanhf($0) }
            let expected = Self.linear(pooled, values["heads.topic.classifier.weight"]!, values["heads.topic.classifier.bias"]!, inFeatures: 128)
            for label in 0..<2 { worst = max(worst, abs(expected[label] - topic[s * 2 + label])) }
        }
        #expect(worst <= 1e-5, "max abs diff \(worst)")
        #expect(output.logits["ner"]?.count == batch.tokenCount * 5)
        let only = try runner.forward(batch, tasks: ["topic"])
        #expect(Set(only.logits.keys) == ["topic"])
    }

    @Test func invalidTasksFileIsRefused() throws {
        let (directory, _) = try Self.makeMultiTaskDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"format": "biotag.tasks", "version": 1, "tasks": [{"name": "x", "kind": "token_classification", "labels": ["O"], "head": "mlp", "tensors": {"classifier": "heads.disease.classifier"}}]}"#
            .write(toFile: directory + "/tasks.json", atomically: true, encoding: .utf8)
        #expect(throws: ModelLoadError.invalidTasks(file: directory + "/tasks.json", reason: "MLP task 'x' names no dense tensor")) {
            try MultiTaskModel(directory: directory)
        }
        try #"{"format": "biotag.tasks", "version": 1, "tasks": [{"name": "x", "kind": "token_classification", "labels": ["O", "B"], "tensors": {"classifier": "heads.nothing"}}]}"#
            .write(toFile: directory + "/tasks.json", atomically: true, encoding: .utf8)
        #expect(throws: ModelLoadError.weights(.missingTensor(file: directory + "/model.safetensors", tensor: "heads.nothing.weight"))) {
            try MultiTaskModel(directory: directory)
        }
        try #"{"format": "biotag.tasks", "version": 1, "tasks": [{"name": "x", "kind": "token_classification", "labels": ["O"], "head": "mlp", "inner_size": 0, "tensors": {"classifier": "c", "dense": "d"}}]}"#
            .write(toFile: directory + "/tasks.json", atomically: true, encoding: .utf8)
        #expect(throws: ModelLoadError.invalidTasks(file: directory + "/tasks.json", reason: "task 'x' has inner_size 0; it must be positive")) {
            try MultiTaskModel(directory: directory)
        }
        // Relation tasks: two arguments, the projection and dense layers, a threshold inside (0, 1).
        let arguments = #""arguments": [{"role": "chemical", "types": ["chemical"]}, {"role": "disease", "types": ["disease"]}]"#
        for (task, reason) in [
            (#"{"name": "r", "kind": "relation", "labels": ["CID"], "arguments": [{"role": "chemical", "types": ["chemical"]}], "tensors": {"classifier": "c", "projection": "p", "dense": "d"}}"#,
             "relation task 'r' needs two arguments, each with a role and entity types"),
            (#"{"name": "r", "kind": "relation", "labels": ["CID"], \#(arguments), "tensors": {"classifier": "c", "dense": "d"}}"#,
             "relation task 'r' names no projection tensor"),
            (#"{"name": "r", "kind": "relation", "labels": ["CID"], \#(arguments), "threshold": 1.5, "tensors": {"classifier": "c", "projection": "p", "dense": "d"}}"#,
             "relation task 'r' has threshold 1.5; it must lie between 0 and 1"),
            (#"{"name": "r", "kind": "relation", "labels": ["CID", "other"], \#(arguments), "tensors": {"classifier": "c", "projection": "p", "dense": "d"}}"#,
             "relation task 'r' has 2 labels; it names one relation type"),
        ] {
            try #"{"format": "biotag.tasks", "version": 1, "tasks": [\#(task)]}"#.write(toFile: directory + "/tasks.json", atomically: true, encoding: .utf8)
            #expect(throws: ModelLoadError.invalidTasks(file: directory + "/tasks.json", reason: reason)) {
                try MultiTaskModel(directory: directory)
            }
        }
    }
}
