import Catalog
import Foundation
import Testing
import TestSupport

/// What makes a new catalog run: only settings that can change results.
@Suite struct CatalogRunTests {
    @Test func batchingSettingsDoNotMakeANewRun() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = "\(directory)/c.db"
        func records(_ range: Range<Int>) -> Data {
            Data(range.map { #"{"id": "r\#($0)", "text": "Patients \#($0) with Crohn's disease received infliximab."}"# }.joined(separator: "\n").utf8)
        }
        #expect(try AnnotateCommandTests.annotate(["--store", store], stdin: records(0..<3)).status == 0)
        for flags in [["--token-budget", "512"], ["--workers", "1", "--threads", "2"], ["--chunk", "1"]] {
            let result = try AnnotateCommandTests.annotate(["--store", store] + flags, stdin: records(0..<4))
            #expect(result.status == 0, "\(flags): \(result.stderr)")
        }
        #expect(try SQLiteCatalog(path: store).runs().map(\.records) == [4])
        // Decoding can change results: a new run, and search still sees every record.
        #expect(try AnnotateCommandTests.annotate(["--store", store, "--decoding", "argmax"], stdin: records(4..<5)).status == 0)
        let catalog = try SQLiteCatalog(path: store)
        #expect(try catalog.runs().map(\.records) == [4, 1])
        #expect(try catalog.search(try SearchQuery.parse("infliximab")).total == 5)
    }

    /// Two copies of a model with the same name and version but other weights are two models:
    /// the second's results are not taken for the first's.
    @Test func otherWeightsWithTheSameVersionMakeANewRun() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let copy = "\(directory)/model-copy"
        try FileManager.default.copyItem(atPath: TestModels.twoHeads, toPath: copy)
        let weights = "\(copy)/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 3] ^= 0x01  // a low mantissa bit of the last value
        try bytes.write(to: URL(fileURLWithPath: weights))
        let store = "\(directory)/c.db"
        let input = Data(#"{"id": "a", "text": "Patients with Crohn's disease received infliximab."}"#.utf8)
        #expect(try AnnotateCommandTests.annotate(["--store", store], stdin: input).status == 0)
        let second = try BiotagCommand.run(["annotate", "--model", copy, "--quiet", "--store", store], stdin: input)
        #expect(second.status == 0, "\(second.stderr)")
        let runs = try SQLiteCatalog(path: store).runs()
        #expect(runs.map(\.records) == [1, 1])
        #expect(runs.map(\.model.version) == ["0.1", "0.1"] && runs[0].model.weights != runs[1].model.weights)
        #expect(runs.allSatisfy { $0.model.weights?.hasPrefix("fnv1a64:") == true })
    }
}
