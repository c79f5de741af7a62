import Foundation
import Testing
import TestSupport

/// `biotag bench encode|tasks --rounds`: medians over rounds, each ratio the median of the
/// rounds' own ratios. The reference is a stand-in script whose times change from round to round,
/// so the medians can be checked; biotag's own times are real (and not asserted).
@Suite struct BenchCommandTests {
    /// A reference directory in `bench/`'s layout: `setup.sh`, `reference.py` and a `.venv/bin/python`
    /// that prints `runtime` at `1000 · n` ms per sentence in its n-th call (for each batch size
    /// asked for), and fails in call `failing`.
    static func standInReference(runtime: String, failing: Int? = nil) throws -> (directory: String, script: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-bench-reference-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/.venv/bin", withIntermediateDirectories: true)
        try "exit 0\n".write(toFile: directory + "/setup.sh", atomically: true, encoding: .utf8)
        try "# stand-in: .venv/bin/python answers\n".write(toFile: directory + "/reference.py", atomically: true, encoding: .utf8)
        let python = """
            #!/bin/bash
            here="$(dirname "$0")"
            n=$(( $(cat "$here/calls" 2>/dev/null || echo 0) + 1 ))
            echo $n > "$here/calls"
            if [ "$n" = "\(failing ?? 0)" ]; then echo "stand-in failure in call $n" >&2; exit 1; fi
            sizes=1; while [ $# -gt 0 ]; do [ "$1" = "--batch-sizes" ] && sizes="$2"; shift; done
            entries=""
            for b in ${sizes//,/ }; do
              [ -n "$entries" ] && entries="$entries,"
              entries="$entries{\\"runtime\\": \\"\(runtime)\\", \\"batch\\": $b, \\"ms_per_sentence\\": $(( 1000 * n )), \\"sentences_per_second\\": 1, \\"notes\\": \\"stand-in\\"}"
            done
            echo "{\\"results\\": [$entries], \\"instruction_sets\\": [\\"AVX\\", \\"AVX2\\", \\"FMA3\\"]}"
            """
        let path = directory + "/.venv/bin/python"
        try python.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return (directory, directory + "/reference.py")
    }

    static func object(_ result: BiotagCommand.Result) throws -> [String: Any] {
        try #require(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(result.output)")
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Equal but for the rounding of a JSON round trip: within 1e-12 of the larger magnitude
    /// (a speed-up of 1,000 carries about 1e-13 of rounding per operation).
    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) }

    @Test func encodeReportsMediansOfRounds() throws {
        let (directory, script) = try Self.standInReference(runtime: "onnxruntime")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try BiotagCommand.run([
            "bench", "encode", "--model", TestPaths.minilm, "--limit", "4", "--repeats", "1", "--rounds", "3", "--modes", "fp32",
            "--batch-size", "2", "--reference", "onnxruntime", "--reference-script", script, "--json"])
        let object = try Self.object(result)
        #expect(object["rounds"] as? Int == 3)
        // What the reference process saw of the CPU is passed on (bench/avx2_only.c holds it to AVX2).
        #expect(object["reference_instruction_sets"] as? [String] == ["AVX", "AVX2", "FMA3"], "\(object)")
        #expect((object["instruction_sets"] as? [String: String])?["biotag_onednn"]?.isEmpty == false, "\(object)")
        let configurations = try #require(object["configurations"] as? [[String: Any]])
        let reference = try #require(configurations.first { $0["name"] as? String == "onnxruntime fp32 batch 1" })
        #expect(reference["ms_per_sentence"] as? Double == 2000, "median of 1000, 2000, 3000: \(reference)")
        let biotag = configurations.filter { $0["runtime"] as? String == "biotag" }
        #expect(biotag.count == 3, "batch 1 and two throughput configurations: \(configurations)")
        for configuration in biotag {
            let perRound = try #require((configuration["round_ratios"] as? [String: [Double]])?["onnxruntime"], "\(configuration)")
            let times = try #require(configuration["round_ms_per_sentence"] as? [Double], "\(configuration)")
            #expect(perRound.count == 3 && times.count == 3)
            // The stand-in is 1000, 2000, 3000 ms: each round's ratio is against its own round.
            for round in 0..<min(3, perRound.count, times.count) {
                #expect(Self.close(perRound[round], times[round] / Double(1000 * (round + 1))), "round \(round + 1): \(perRound) from \(times)")
            }
            #expect(Self.close(configuration["ms_per_sentence"] as? Double ?? 0, Self.median(times)))
            let ratio = try #require((configuration["ratios"] as? [String: Double])?["onnxruntime"])
            #expect(Self.close(ratio, Self.median(perRound)), "\(ratio) against \(perRound)")
        }

        let table = try BiotagCommand.run([
            "bench", "encode", "--model", TestPaths.minilm, "--limit", "2", "--repeats", "1", "--rounds", "2", "--modes", "fp32",
            "--reference", "onnxruntime", "--reference-script", script])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.output.contains("medians of 2 rounds"), "\(table.output)")
        #expect(table.output.contains("onnxruntime"), "\(table.output)")
        #expect(table.output.contains("cpu: biotag oneDNN ") && table.output.contains("; the reference runtimes see AVX AVX2 FMA3"), "\(table.output)")
    }

    @Test func tasksReportsMedianSpeedUpsAndSurvivesAFailedRound() throws {
        let (directory, script) = try Self.standInReference(runtime: "torch-tasks", failing: 2)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try BiotagCommand.run([
            "bench", "tasks", "--model", TestModels.twoHeads, "--reference-model", TestPaths.minilm, "--sentences", TestPaths.data("disease/test.tsv"),
            "--limit", "4", "--repeats", "1", "--rounds", "3", "--modes", "fp32", "--reference-script", script, "--json"])
        let object = try Self.object(result)
        #expect(object["rounds"] as? Int == 3)
        #expect((object["note"] as? String)?.contains("round 2: reference not measured") == true, "\(object)")
        let configurations = try #require(object["configurations"] as? [[String: Any]])
        let reference = try #require(configurations.first { $0["runtime"] as? String == "torch-tasks" })
        #expect(reference["ms_per_sentence"] as? Double == 2000, "median of the rounds that measured it, 1000 and 3000: \(reference)")
        for configuration in configurations where configuration["runtime"] == nil {
            let perRound = try #require(configuration["round_speed_ups"] as? [Double], "\(configuration)")
            let times = try #require(configuration["round_ms_per_sentence"] as? [Double], "\(configuration)")
            #expect(perRound.count == 2 && times.count == 3, "rounds 1 and 3: \(perRound)")
            if perRound.count == 2, times.count == 3 {
                #expect(abs(perRound[0] - 1000 / times[0]) < 1e-9 && abs(perRound[1] - 3000 / times[2]) < 1e-9, "\(perRound) from \(times)")
            }
            #expect(Self.close(configuration["speed_up"] as? Double ?? 0, Self.median(perRound)), "\(configuration)")
        }
    }

    @Test func roundsMustBePositive() throws {
        let result = try BiotagCommand.run(["bench", "encode", "--model", TestPaths.minilm, "--rounds", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--rounds must be at least 1"), "\(result.stderr)")
    }
}
