import Foundation

/// Model directories for tests that need token heads but no trained weights.
public enum TestModels {
    /// The small cased BERT of the fixtures with its 5-way classifier read as two heads:
    /// `disease` (one entity type) and `mixed` (Chemical and Gene). Untrained, so it finds
    /// arbitrary but deterministic entities everywhere. Made once per test process.
    public static let twoHeads: String = {
        let source = TestPaths.fixture("arch/cased-bert")
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-two-heads-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: source) {
                try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(target)/\(name)")
            }
            let tasks = """
                {"format": "biotag.tasks", "version": 1, "name": "test-model", "model_version": "0.1", "tasks": [
                  {"name": "disease", "kind": "token_classification", "labels": ["O", "B-Disease", "I-Disease", "I-Disease", "O"],
                   "head": "linear", "tensors": {"classifier": "classifier"}},
                  {"name": "mixed", "kind": "token_classification", "labels": ["I-Chemical", "O", "B-Chemical", "B-Gene", "I-Gene"],
                   "head": "linear", "tensors": {"classifier": "classifier"}}]}
                """
            try tasks.write(toFile: "\(target)/tasks.json", atomically: true, encoding: .utf8)
        } catch {
            preconditionFailure("cannot make the test model in \(target): \(error)")
        }
        return target
    }()
}
