import Annotation
import Catalog
import Foundation
import Testing
import TestSupport

/// `biotag annotate` and `biotag search` end to end, with the untrained two-head test model
/// (it finds arbitrary entities, which is all offsets, formats and the catalog need).
@Suite struct AnnotateCommandTests {
    static let texts = [
        "Patients with Crohn's disease received infliximab; IL-6 and TNF-α fell within 8 weeks.",
        "Naïve CD4+ T cells from mice (Mus musculus) were exposed to 5 µM cisplatin.\nViability dropped by 40%.",
        "Mutations in BRCA1 and TP53 were found in 12 of 48 breast cancer samples 😀 — see Fig. 2.",
    ]

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-annotate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func annotate(_ arguments: [String], stdin: Data = Data()) throws -> BiotagCommand.Result {
        try BiotagCommand.run(["annotate", "--model", TestModels.twoHeads, "--quiet"] + arguments, stdin: stdin)
    }

    /// Writes the same three records in every input format.
    static func inputs(in directory: String) throws -> [InputFormat: String] {
        var paths: [InputFormat: String] = [:]
        paths[.text] = "\(directory)/record.txt"
        try texts[1].write(toFile: paths[.text]!, atomically: true, encoding: .utf8)
        paths[.jsonl] = "\(directory)/records.jsonl"
        let lines = try texts.enumerated().map { index, text in
            String(decoding: try JSONSerialization.data(withJSONObject: ["id": "r\(index)", "text": text]), as: UTF8.self)
        }
        try lines.joined(separator: "\n").write(toFile: paths[.jsonl]!, atomically: true, encoding: .utf8)
        var writer = try makeWriter(format: .biocXML, destination: "\(directory)/records.xml")
        let documents = texts.enumerated().map { index, text in
            Document(id: "r\(index)", passages: [Passage(text: "Title \(index)", offset: 0, infons: ["type": "title"]),
                                                 Passage(text: text, offset: 10, infons: ["type": "abstract"])], infons: ["source": "test"])
        }
        for document in documents { try writer.write(document, model: ModelIdentity(name: "none", version: "0")) }
        try writer.finish()
        paths[.biocXML] = "\(directory)/records.xml"
        var json = try makeWriter(format: .biocJSON, destination: "\(directory)/records.json")
        for document in documents { try json.write(document, model: ModelIdentity(name: "none", version: "0")) }
        try json.finish()
        paths[.biocJSON] = "\(directory)/records.json"
        paths[.pubtator] = "\(directory)/records.pubtator"
        try texts.enumerated().map { "\($0)|t|Title \($0)\n\($0)|a|\($1.replacingOccurrences(of: "\n", with: " "))\n" }.joined(separator: "\n")
            .write(toFile: paths[.pubtator]!, atomically: true, encoding: .utf8)
        return paths
    }

    /// Every input format to every output format: the output reads back, and every entity's
    /// offsets slice its passage to its text.
    @Test func everyInputToEveryOutput() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (format, input) in try Self.inputs(in: directory).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for output in OutputFormat.allCases {
                let destination = "\(directory)/out-\(format.rawValue).\(output.rawValue)"
                let result = try Self.annotate([input, "--to", output.rawValue, "-o", destination])
                #expect(result.status == 0, "\(format) → \(output): \(result.stderr)")
                if output == .brat {
                    let files = try FileManager.default.contentsOfDirectory(atPath: destination)
                    #expect(files.contains { $0.hasSuffix(".ann") } && files.contains { $0.hasSuffix(".txt") }, "\(format) → brat")
                    continue
                }
                if output == .jsonl {
                    // Entity offsets are into the text of the entity's field ("text" for one passage).
                    for line in try String(contentsOfFile: destination, encoding: .utf8).split(separator: "\n") {
                        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                        for entity in try #require(record["entities"] as? [[String: Any]]) {
                            let text = try #require(record[entity["field"] as? String ?? "text"] as? String)
                            let start = try #require(entity["start"] as? Int), end = try #require(entity["end"] as? Int)
                            #expect(text.scalarSlice(start..<end) == entity["text"] as? String, "\(format) → jsonl: \(entity)")
                        }
                    }
                    continue
                }
                let readBack: InputFormat = switch output {
                case .biocXML: .biocXML
                case .biocJSON: .biocJSON
                default: .pubtator
                }
                var reader = try makeReader(format: readBack, path: destination)
                var entities = 0
                while let item = try reader.next() {
                    guard case let .document(document) = item else { Issue.record("\(format) → \(output): \(item)"); continue }
                    for passage in document.passages {
                        for entity in passage.entities {
                            entities += 1
                            #expect(passage.text.scalarSlice(entity.start..<entity.end) == entity.text, "\(format) → \(output): \(entity)")
                        }
                    }
                }
                #expect(entities > 0, "\(format) → \(output) read back no entities")
            }
        }
    }

    /// A device such as /dev/null is written directly, never replaced by a file.
    @Test func devicesAreWrittenNotReplaced() throws {
        let result = try Self.annotate(["-o", "/dev/null"], stdin: Data(#"{"id": "a", "text": "Aspirin reduced fever."}"#.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let type = try FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType
        #expect(type == .typeCharacterSpecial)
    }

    /// BioC in, BioC out: documents, passages, their offsets, infons and texts are kept.
    @Test func biocRoundTripKeepsTheStructure() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inputs = try Self.inputs(in: directory)
        for format in [InputFormat.biocXML, .biocJSON] {
            let out = "\(directory)/round.\(format.rawValue)"
            let result = try Self.annotate([inputs[format]!, "--to", format.rawValue, "-o", out])
            #expect(result.status == 0, "\(result.stderr)")
            func documents(_ path: String) throws -> [Document] {
                var reader = try makeReader(format: format, path: path)
                var found: [Document] = []
                while let item = try reader.next() { if case let .document(d) = item { found.append(d) } }
                return found
            }
            let before = try documents(inputs[format]!), after = try documents(out)
            #expect(before.map(\.id) == after.map(\.id) && before.map(\.infons) == after.map(\.infons))
            #expect(before.map { $0.passages.map { [$0.text, "\($0.offset)", $0.infons.description] } } == after.map { $0.passages.map { [$0.text, "\($0.offset)", $0.infons.description] } })
            #expect(after.contains { !$0.documentEntities.isEmpty })
        }
    }

    /// Bad records are reported with their line and kept as rejects; the good ones go on.
    @Test func rejectsAreReportedAndTheRestGoesOn() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var input = Data(#"{"id": "a", "text": "Aspirin reduced fever in mice."}"#.utf8) + Data("\n".utf8)
        input += Data("{not json\n".utf8)
        input += Data(#"{"id": "b", "text": ""}"#.utf8) + Data("\n".utf8)
        input += Data(#"{"id": "c", "text": "bad "#.utf8) + Data([0xFF, 0xFE]) + Data("\"}\n".utf8)
        input += Data(#"{"text": "no id here"}"#.utf8) + Data("\n".utf8)
        input += Data(#"{"id": 7, "text": "Lithium in bipolar disorder."}"#.utf8) + Data("\n".utf8)
        let result = try BiotagCommand.run(["annotate", "--model", TestModels.twoHeads, "--rejects", "\(directory)/rejects.jsonl"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        let ids = result.output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
        }
        #expect(ids == ["a", "7"])
        let rejects = try String(contentsOfFile: "\(directory)/rejects.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rejects.count == 4)
        for line in [2, 3, 4, 5] { #expect(result.stderr.contains("stdin:\(line)"), "line \(line): \(result.stderr)") }
        #expect(result.stderr.contains("2 records") && result.stderr.contains("4 rejected"))
    }

    /// Re-running changes nothing; a run killed with SIGKILL resumes and ends with exactly what
    /// an uninterrupted run stores.
    @Test func catalogRunsAreIdempotentAndSurviveKill() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = (0..<1500).map { i in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["id": "rec-\(i)", "text": Self.texts[i % 3] + " Record \(i) of the cohort."]), as: UTF8.self)
        }
        let input = "\(directory)/many.jsonl"
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let clean = "\(directory)/clean.db", killed = "\(directory)/killed.db"
        let first = try Self.annotate([input, "--store", clean, "--chunk", "100"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try Self.annotate([input, "--store", clean, "--chunk", "100"])
        #expect(again.status == 0)
        let reference = try SQLiteCatalog(path: clean).runs()
        #expect(reference.count == 1 && reference[0].records == 1500)

        // Start, wait until some batches are stored, kill -9, resume.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BiotagCommand.executable)
        process.arguments = ["annotate", "--model", TestModels.twoHeads, "--quiet", input, "--store", killed, "--chunk", "100"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var stored = 0
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline {
            usleep(20_000)
            stored = (try? SQLiteCatalog(path: killed).runs().first?.records) ?? 0
            if stored >= 300 { break }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(stored >= 300 && stored < 1500, "killed after \(stored) records")
        let resumed = try Self.annotate([input, "--store", killed, "--chunk", "100"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let after = try SQLiteCatalog(path: killed).runs()
        #expect(after.map(\.records) == reference.map(\.records) && after.map(\.entities) == reference.map(\.entities))
        let a = try SQLiteCatalog(path: clean), b = try SQLiteCatalog(path: killed)
        for i in stride(from: 0, to: 1500, by: 97) {
            #expect(try a.document(key: "rec-\(i)", run: 1) == b.document(key: "rec-\(i)", run: 1), "rec-\(i)")
        }
    }

    @Test func searchFindsStoredRecordsAndRefusesBadQueries() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inputs = try Self.inputs(in: directory)
        let store = "\(directory)/s.db"
        #expect(try Self.annotate([inputs[.jsonl]!, "--store", store]).status == 0)
        let found = try BiotagCommand.run(["search", "--store", store, "--json", "cisplatin OR \"breast cancer\""])
        #expect(found.status == 0, "\(found.stderr)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let result = try decoder.decode(SearchResult.self, from: found.stdout)
        #expect(result.hits.map(\.id) == ["r1", "r2"] && result.total == 2)
        let bad = try BiotagCommand.run(["search", "--store", store, "disease:(\"x"])
        #expect(bad.status != 0 && bad.stderr.contains("at character"), "\(bad.stderr)")
        let missing = try BiotagCommand.run(["search", "--store", "\(directory)/none.db", "x"])
        #expect(missing.status != 0 && missing.stderr.contains("no such catalog"))
    }
}
