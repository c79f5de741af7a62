import Foundation

/// Where the tests find their inputs: the repository, `../shared/` beside it, and the model
/// cache that `make fetch-model` fills.
public enum TestPaths {
    public static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `$BIOTAG_SHARED` or `../shared` next to the repository.
    public static var shared: URL {
        if let path = ProcessInfo.processInfo.environment["BIOTAG_SHARED"] { return URL(fileURLWithPath: path) }
        return repository.deletingLastPathComponent().appendingPathComponent("shared")
    }

    public static func fixture(_ relative: String) -> String {
        shared.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    public static func data(_ relative: String) -> String {
        shared.appendingPathComponent("data/bioner").appendingPathComponent(relative).path
    }

    /// The all-MiniLM-L6-v2 directory fetched by `biotag fetch-model minilm`.
    public static var minilm: String {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["BIOTAG_HOME"] ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/biotag")
        return (home as NSString).appendingPathComponent("models/all-MiniLM-L6-v2")
    }

    /// Hugging Face's encodings of generated text that `make tokenizer-oracle` writes with
    /// Tests/oracle/tokenizer_oracle.py: `$BIOTAG_TOKENIZER_ORACLE`, or
    /// `.build/oracle/tokenizer_generated.jsonl` in the repository.
    public static var tokenizerOracle: String {
        if let path = ProcessInfo.processInfo.environment["BIOTAG_TOKENIZER_ORACLE"] { return path }
        return repository.appendingPathComponent(".build/oracle/tokenizer_generated.jsonl").path
    }

    /// Reads a JSON-lines file into dictionaries.
    public static func jsonLines(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        }
    }
}
