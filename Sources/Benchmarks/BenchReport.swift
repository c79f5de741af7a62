import CommandLineSupport
import Foundation
import Tensors

/// One configuration measured by the reference script.
struct ReferenceResult: Decodable {
    let runtime: String
    let batch: Int
    let msPerSentence: Double
    let p50Ms: Double?
    let p99Ms: Double?
    let sentencesPerSecond: Double
    let notes: String?
    let sizeMiB: Double?
    let memoryMiB: Double?

    /// fp32 or int8.
    var precision: String { runtime.hasSuffix("-int8") ? "int8" : "fp32" }
    /// The runtime's name without its precision suffix.
    var engine: String { runtime.hasSuffix("-int8") ? String(runtime.dropLast(5)) : runtime }
    var name: String { "\(engine) \(precision) batch \(batch)" }

    enum CodingKeys: String, CodingKey {
        case runtime, batch, notes
        case msPerSentence = "ms_per_sentence", p50Ms = "p50_ms", p99Ms = "p99_ms", sentencesPerSecond = "sentences_per_second"
        case sizeMiB = "size_mib", memoryMiB = "memory_mib"
    }
}

/// Runs `bench/reference.py` (PyTorch, ONNX Runtime) through its own virtualenv.
enum ReferenceRunner {
    /// - Parameter ids: biotag's token ids of every sentence, handed over so that both sides run
    ///   exactly the same inputs.
    struct Output: Decodable {
        struct Tokenizer: Decodable {
            let tokensPerSecond: Double
            enum CodingKeys: String, CodingKey { case tokensPerSecond = "tokens_per_second" }
        }
        let results: [ReferenceResult]
        let tokenizer: Tokenizer?
        /// The x86 extensions the reference process saw (held to AVX2 by bench/avx2_only.c).
        let instructionSets: [String]?
        enum CodingKeys: String, CodingKey { case results, tokenizer, instructionSets = "instruction_sets" }
    }

    static func run(script: String, model: String, sentences: String, ids: [[Int32]], limit: Int?, threads: Int, batchSizes: [Int], runtimes: String,
                    extra: [String] = []) throws -> Output {
        guard FileManager.default.fileExists(atPath: script) else {
            throw CommandError("\(script) not found (run from the repository root or pass --reference-script)")
        }
        let directory = (script as NSString).deletingLastPathComponent
        let setup = (directory as NSString).appendingPathComponent("setup.sh")
        printError("preparing the reference environment (\(setup)) …")
        let prepared = try Subprocess.run("bash", [setup])
        guard prepared.status == 0 else { throw CommandError("\(setup) failed: \(prepared.errorOutput.suffix(400))") }
        let python = (directory as NSString).appendingPathComponent(".venv/bin/python")
        var arguments = [script, "--model", model, "--sentences", sentences, "--threads", "\(threads)",
                         "--batch-sizes", batchSizes.map(String.init).joined(separator: ","), "--runtimes", runtimes]
        if let limit { arguments += ["--limit", "\(limit)"] }
        let idsPath = NSTemporaryDirectory() + "biotag-bench-ids-\(ProcessInfo.processInfo.processIdentifier).json"
        try JSONSerialization.data(withJSONObject: ids.map { $0.map(Int.init) }).write(to: URL(fileURLWithPath: idsPath))
        defer { try? FileManager.default.removeItem(atPath: idsPath) }
        arguments += ["--ids", idsPath] + extra
        printError("running the reference runtimes (\(runtimes)) …")
        let result = try Subprocess.run(python, arguments, environment: ["HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"])
        guard result.status == 0 else { throw CommandError("\(script) failed: \(result.errorOutput.suffix(400))") }
        do {
            return try JSONDecoder().decode(Output.self, from: Data(result.output.utf8))
        } catch {
            throw CommandError("\(script) printed no valid JSON: \(error)")
        }
    }
}

/// Everything one `biotag bench encode` run measured.
struct BenchReport {
    let model: String
    let sentences: Int
    let tokens: Int
    let threads: Int
    let tokenizerTokensPerSecond: Double
    /// Hugging Face's Rust tokenizer on the same sentences, when the reference ran.
    let referenceTokenizerTokensPerSecond: Double?
    let results: [BenchResult]
    let references: [ReferenceResult]
    let note: String?
    /// The x86 extensions the reference runtimes saw, when they ran.
    var referenceInstructionSets: [String]?
    /// The rounds this report is the median of (empty when it is a single round).
    private(set) var rounds: [BenchReport] = []

    init(model: String, sentences: Int, tokens: Int, threads: Int, tokenizerTokensPerSecond: Double, referenceTokenizerTokensPerSecond: Double?,
         results: [BenchResult], references: [ReferenceResult], note: String?) {
        self.model = model; self.sentences = sentences; self.tokens = tokens; self.threads = threads
        self.tokenizerTokensPerSecond = tokenizerTokensPerSecond; self.referenceTokenizerTokensPerSecond = referenceTokenizerTokensPerSecond
        self.results = results; self.references = references; self.note = note
    }

    /// The medians of rounds that measured the same configurations in the same order: every
    /// figure is its median over the rounds, and every ratio the median of the rounds' ratios.
    init(medianOf rounds: [BenchReport]) {
        precondition(!rounds.isEmpty, "no rounds")
        let first = rounds[0]
        guard rounds.count > 1 else { self = first; return }
        let results = first.results.indices.map { index in BenchResult(medianOf: rounds.map { $0.results[index] }) }
        // A reference may have failed in some rounds: match them by name.
        var references: [ReferenceResult] = []
        for name in rounds.flatMap({ $0.references.map(\.name) }) where !references.contains(where: { $0.name == name }) {
            references.append(ReferenceResult(medianOf: rounds.compactMap { $0.references.first { $0.name == name } }))
        }
        let notes = rounds.enumerated().compactMap { round, report in report.note.map { "round \(round + 1): \($0)" } }
        self.init(model: first.model, sentences: first.sentences, tokens: first.tokens, threads: first.threads,
                  tokenizerTokensPerSecond: median(rounds.map(\.tokenizerTokensPerSecond))!,
                  referenceTokenizerTokensPerSecond: median(rounds.compactMap(\.referenceTokenizerTokensPerSecond)),
                  results: results, references: references, note: notes.isEmpty ? nil : notes.joined(separator: "\n"))
        self.rounds = rounds
        referenceInstructionSets = rounds.lazy.compactMap(\.referenceInstructionSets).first
    }

    /// What each side ran on: oneDNN's instruction set and biotag's C kernels, and what the
    /// reference runtimes saw of the CPU.
    var instructionSetLine: String {
        var line = "cpu: biotag oneDNN \(CPUFeatures.instructionSet), C kernels \(CPUFeatures.kernelInstructionSet)"
        if let seen = referenceInstructionSets { line += "; the reference runtimes see \(seen.isEmpty ? "no AVX" : seen.joined(separator: " "))" }
        return line
    }

    /// biotag's time over each reference's at the same batch size (< 1: biotag is faster), with
    /// the rounds' own ratios and, over rounds, their median; `samePrecision` keeps the references
    /// of the result's precision (bf16 against fp32).
    func ratioRanges(_ result: BenchResult, samePrecision: Bool = false) -> [(runtime: String, median: Double, perRound: [Double])] {
        guard !rounds.isEmpty, let index = results.firstIndex(where: { $0.name == result.name }) else {
            return references.filter { $0.batch == result.batch && (!samePrecision || $0.precision == (result.mode == "int8" ? "int8" : "fp32")) }
                .map { ($0.runtime, result.msPerSentence / $0.msPerSentence, [result.msPerSentence / $0.msPerSentence]) }
        }
        let perRound = rounds.map { $0.ratioRanges($0.results[index], samePrecision: samePrecision) }
        var runtimes: [String] = []
        for ratios in perRound { for entry in ratios where !runtimes.contains(entry.runtime) { runtimes.append(entry.runtime) } }
        return runtimes.map { runtime in
            let values = perRound.compactMap { $0.first { $0.runtime == runtime }?.median }
            return (runtime, median(values)!, values)
        }
    }

    func table() -> String {
        var tokenizerLine = "tokenizer \(Int(tokenizerTokensPerSecond)) tokens/s (one thread)"
        if let reference = referenceTokenizerTokensPerSecond {
            tokenizerLine += String(format: ", Hugging Face tokenizers (Rust) %d tokens/s: %.1f×", Int(reference), tokenizerTokensPerSecond / reference)
        }
        var lines = ["model \(model): \(sentences) sentences, \(tokens) tokens, \(threads) cores", instructionSetLine, tokenizerLine]
        if !rounds.isEmpty {
            lines.append("medians of \(rounds.count) rounds (each: biotag, then the references); a ratio is the median of the rounds' ratios (lowest–highest)")
        }
        lines.append("")
        lines.append("configuration".padding(toLength: 52, withPad: " ", startingAt: 0)
            + "ms/sentence      p50      p99  sentences/s   MiB file  MiB added   time vs reference (same precision)")
        func cell(_ value: Double?, _ width: Int = 9, _ format: String = "%.3f") -> String {
            let text = value.map { String(format: format, $0) } ?? "-"
            return String(repeating: " ", count: max(0, width - text.count)) + text
        }
        func row(_ name: String, _ ms: Double, _ p50: Double?, _ p99: Double?, _ size: Double?, _ memory: Double?, _ ratios: String) -> String {
            name.padding(toLength: 52, withPad: " ", startingAt: 0)
                + String(format: "%11.3f", ms) + cell(p50) + cell(p99) + String(format: "%13.1f", 1000 / ms)
                + cell(size, 11, "%.1f") + cell(memory, 11, "%.0f") + "   " + ratios
        }
        for result in results {
            let ratioText = ratioRanges(result, samePrecision: true).map { entry in
                String(format: "%@ %.2f×", entry.runtime, entry.median)
                    + (entry.perRound.count > 1 ? String(format: " (%.2f–%.2f)", entry.perRound.min()!, entry.perRound.max()!) : "")
            }.joined(separator: ", ")
            lines.append(row(result.name, result.msPerSentence, result.p50, result.p99, result.sizeMiB, result.memoryMiB, ratioText))
        }
        for reference in references {
            lines.append(row(reference.name, reference.msPerSentence, reference.p50Ms, reference.p99Ms, reference.sizeMiB, reference.memoryMiB, ""))
        }
        if !references.isEmpty {
            lines.append("")
            for reference in references { lines.append("\(reference.name): \(reference.notes ?? "")") }
        }
        if let note { lines.append(""); lines.append(note) }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        func entry(name: String, runtime: String, batch: Int, ms: Double, p50: Double?, p99: Double?) -> [String: Any] {
            var entry: [String: Any] = [
                "name": name, "model": model, "batch": batch, "runtime": runtime,
                "ms_per_sentence": ms, "sentences_per_second": 1000 / ms,
            ]
            if let p50 { entry["p50_ms"] = p50 }
            if let p99 { entry["p99_ms"] = p99 }
            return entry
        }
        var configurations: [[String: Any]] = results.enumerated().map { index, result in
            var configuration = entry(name: result.name, runtime: "biotag", batch: result.batch, ms: result.msPerSentence, p50: result.p50, p99: result.p99)
            if !rounds.isEmpty { configuration["round_ms_per_sentence"] = rounds.map { $0.results[index].msPerSentence } }
            configuration["threads"] = result.threads
            configuration["workers"] = result.workers
            configuration["mode"] = result.mode
            if let size = result.sizeMiB { configuration["size_mib"] = size }
            if let memory = result.memoryMiB { configuration["memory_mib"] = memory }
            let ranges = ratioRanges(result)
            configuration["ratios"] = Dictionary(ranges.map { ($0.runtime, $0.median) }, uniquingKeysWith: { a, _ in a })
            if !rounds.isEmpty { configuration["round_ratios"] = Dictionary(ranges.map { ($0.runtime, $0.perRound) }, uniquingKeysWith: { a, _ in a }) }
            return configuration
        }
        configurations += references.map { reference in
            var configuration = entry(name: reference.name, runtime: reference.runtime, batch: reference.batch, ms: reference.msPerSentence, p50: reference.p50Ms, p99: reference.p99Ms)
            configuration["threads"] = threads
            configuration["mode"] = reference.precision
            if let size = reference.sizeMiB { configuration["size_mib"] = size }
            if let memory = reference.memoryMiB { configuration["memory_mib"] = memory }
            return configuration
        }
        var object: [String: Any] = ["model": model, "sentences": sentences, "tokens": tokens, "threads": threads, "rounds": max(1, rounds.count),
                                     "tokenizer_tokens_per_second": tokenizerTokensPerSecond, "configurations": configurations]
        if let reference = referenceTokenizerTokensPerSecond { object["reference_tokenizer_tokens_per_second"] = reference }
        object["instruction_sets"] = ["biotag_onednn": CPUFeatures.instructionSet, "biotag_kernels": CPUFeatures.kernelInstructionSet] as [String: Any]
        if let seen = referenceInstructionSets { object["reference_instruction_sets"] = seen }
        if let note { object["note"] = note }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension BenchResult {
    /// One configuration measured in several rounds: the first round's, with the medians of its figures.
    init(medianOf measured: [BenchResult]) {
        self = measured[0]
        msPerSentence = median(measured.map(\.msPerSentence))!
        p50 = median(measured.compactMap(\.p50))
        p99 = median(measured.compactMap(\.p99))
        memoryMiB = median(measured.compactMap(\.memoryMiB))
    }
}

extension ReferenceResult {
    /// One reference configuration measured in several rounds: the medians of its figures.
    init(medianOf measured: [ReferenceResult]) {
        let sample = measured[0]
        self.init(runtime: sample.runtime, batch: sample.batch, msPerSentence: median(measured.map(\.msPerSentence))!,
                  p50Ms: median(measured.compactMap(\.p50Ms)), p99Ms: median(measured.compactMap(\.p99Ms)),
                  sentencesPerSecond: median(measured.map(\.sentencesPerSecond))!, notes: sample.notes,
                  sizeMiB: sample.sizeMiB, memoryMiB: median(measured.compactMap(\.memoryMiB)))
    }
}

/// The median of `values` (the mean of the middle two for an even count), nil when empty.
func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
