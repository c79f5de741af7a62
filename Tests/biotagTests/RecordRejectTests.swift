import Catalog
import Foundation
import Testing
import TestSupport

/// Records that cannot be annotated as given are rejected with their place and a reason a person
/// can act on; nothing is merged, cut or renamed without a word.
@Suite struct RecordRejectTests {
    static func run(_ lines: [String], _ arguments: [String] = []) throws -> (result: BiotagCommand.Result, rejects: [[String: String]]) {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try AnnotateCommandTests.annotate(["--rejects", "\(directory)/rejects.jsonl", "-o", "/dev/null"] + arguments,
                                                        stdin: Data(lines.joined(separator: "\n").utf8))
        let rejects = ((try? String(contentsOfFile: "\(directory)/rejects.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
        return (result, rejects)
    }

    @Test func duplicateIdsAreRejectedNotMerged() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = [#"{"id": "7", "text": "Aspirin reduced fever."}"#, #"{"id": "8", "text": "Mice were fed."}"#, #"{"id": 7, "text": "Another text."}"#]
        let store = "\(directory)/c.db"
        let result = try AnnotateCommandTests.annotate(["--store", store, "--rejects", "\(directory)/r.jsonl"], stdin: Data(lines.joined(separator: "\n").utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let rejects = try String(contentsOfFile: "\(directory)/r.jsonl", encoding: .utf8)
        #expect(rejects.contains(#""id":"7""#) && rejects.contains("record 3") && rejects.contains("duplicate id") && rejects.contains("record 1"), "\(rejects)")
        let catalog = try SQLiteCatalog(path: store)
        #expect(try catalog.runs().map(\.records) == [2])
        #expect(try catalog.document(key: "7", run: 1)?.passages.first?.text == "Aspirin reduced fever.")
    }

    @Test func recordsOverTheLengthLimitAreRejected() throws {
        let long = String(repeating: "Cisplatin nephrotoxicity in rats. ", count: 100)
        let (result, rejects) = try Self.run([#"{"id": "short", "text": "Aspirin."}"#, #"{"id": "long", "text": "\#(long)"}"#], ["--max-record-chars", "1000"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(rejects.count == 1 && rejects[0]["id"] == "long", "\(rejects)")
        #expect(rejects.first?["reason"]?.contains("3400 characters") == true && rejects.first?["reason"]?.contains("--max-record-chars") == true, "\(rejects)")
    }

    @Test func rejectReasonsSayWhatWasWrong() throws {
        let lines = [#"{"id": "", "text": "Empty id."}"#, "{\"id\": \"nul\", \"text\": \"a\u{0}b\"}", #"{"id": "ok", "text": "Aspirin."}"#]
        let (result, rejects) = try Self.run(lines)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(rejects.map { $0["reason"] ?? "" } == ["field \"id\" is empty", "not valid JSON: control character U+0000 at column 25 (escape it, as \\u0000)"])
    }

    @Test func aRunThatAnnotatedNothingFails() throws {
        let lines = [#"{"id": "a"}"#, "not json"]
        let (failed, rejects) = try Self.run(lines)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("every record was rejected (2)") && failed.stderr.contains("--allow-empty"), "\(failed.stderr)")
        #expect(rejects.count == 2)
        #expect(try Self.run(lines, ["--allow-empty"]).result.status == 0)
        // An empty input is not a failure: nothing was rejected.
        #expect(try Self.run([]).result.status == 0)
    }

    @Test func anEmptyTaskListIsRefused() throws {
        let result = try AnnotateCommandTests.annotate(["--tasks", "", "-o", "/dev/null"], stdin: Data(#"{"id": "a", "text": "x"}"#.utf8))
        #expect(result.status != 0)
        #expect(result.stderr.contains("--tasks names no head"), "\(result.stderr)")
    }

    @Test func negativeBioCPassageOffsetsAreRejected() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let xml = """
            <?xml version="1.0"?><collection><source>s</source>
            <document><id>neg</id><passage><offset>-5</offset><text>Aspirin.</text></passage></document>
            <document><id>fine</id><passage><offset>0</offset><text>Aspirin.</text></passage></document>
            </collection>
            """
        try xml.write(toFile: "\(directory)/in.xml", atomically: true, encoding: .utf8)
        let result = try AnnotateCommandTests.annotate(["\(directory)/in.xml", "--to", "bioc-xml", "-o", "\(directory)/out.xml", "--rejects", "\(directory)/r.jsonl"])
        #expect(result.status == 0, "\(result.stderr)")
        let rejects = try String(contentsOfFile: "\(directory)/r.jsonl", encoding: .utf8)
        #expect(rejects.contains(#""id":"neg""#) && rejects.contains("passage offset -5 is negative"), "\(rejects)")
        let out = try String(contentsOfFile: "\(directory)/out.xml", encoding: .utf8)
        #expect(!out.contains("-5") && out.contains("<id>fine</id>"))
    }
}
