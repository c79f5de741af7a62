import ArgumentParser
import Foundation

/// Where biotag keeps fetched models: `$BIOTAG_HOME`, default `~/.cache/biotag`.
enum BiotagHome {
    static var path: String {
        ProcessInfo.processInfo.environment["BIOTAG_HOME"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/biotag")
    }

    static func model(_ name: String) -> String {
        (path as NSString).appendingPathComponent("models/\(name)")
    }
}

struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Model directory (Hugging Face layout: config.json, model.safetensors, vocab.txt or tokenizer.json, optional tasks.json).",
        discussion: "Defaults to all-MiniLM-L6-v2 as fetched by `biotag fetch-model minilm`."))
    var model: String?

    var directory: String { model ?? BiotagHome.model("all-MiniLM-L6-v2") }
}

struct RuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Threads that split each operation of one forward pass.",
        discussion: "More threads lower the latency of one batch; on a machine with few cores, independent --workers usually give more throughput. Threads spin between operations instead of sleeping, because waking a sleeping vCPU costs milliseconds here."))
    var threads: Int = 2

    @Option(help: ArgumentHelp(
        "Independent inference workers, each with --threads threads, working on different batches.",
        discussion: "Workers × threads should not exceed the cores available."))
    var workers: Int = 1

    func validate() throws {
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be between 1 and 256, got \(workers)") }
    }
}

/// Writes to stderr (progress and diagnostics; stdout carries data).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A plain message error for the command line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
