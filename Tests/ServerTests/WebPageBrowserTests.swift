import Annotation
import Foundation
import Hummingbird
import HummingbirdTesting
import Linking
import Models
import Server
import Testing
import TestSupport

/// The web page in a real browser: headless Chromium loads `/?text=…` from a live server, the
/// page posts the text to `/v1/annotate` and draws the answer, and the DOM it rendered is checked
/// against the pipeline's own entities. `make test` installs Chromium and sets
/// BIOTAG_REQUIRE_BROWSER=1, so there the test cannot be skipped; elsewhere it runs when a
/// Chromium is on the PATH.
@Suite struct WebPageBrowserTests {
    static let browser: String? = ["chromium", "chromium-browser", "google-chrome"].lazy.compactMap { name in
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }.first
    static let required = ProcessInfo.processInfo.environment["BIOTAG_REQUIRE_BROWSER"] == "1"

    @Test(.enabled(if: browser != nil || required, "no Chromium on the PATH"))
    func highlightsWhatThePipelineFinds() async throws {
        let browser = try #require(Self.browser, "BIOTAG_REQUIRE_BROWSER=1 but no chromium on the PATH")
        let annotator = try Annotator(model: try MultiTaskModel(directory: TestModels.twoHeads), threads: 1, workers: 1)
        // Characters outside the Basic Multilingual Plane before the entities: the answer counts
        // Unicode scalars, JavaScript counts UTF-16 units, and a page that mixed them up would
        // highlight the wrong characters.
        let text = "𝛼-Synuclein 🐭 aggregates: Parkinson disease, BRCA1 and tamoxifen in breast cancer cells of mice treated with cisplatin."
        let expected = try annotator.annotate([Document(id: "0", text: text)])[0].passages[0].entities
        try #require(!expected.isEmpty, "the test model found nothing in the text")
        let dom = try await Self.page(text, annotator: annotator, linker: nil, browser: browser)
        // Each highlight: <mark class="entity t-TYPE" data-type="TYPE" title="…">TEXT<sub>…
        let marks = dom.matches(of: /<mark class="entity [^"]*" data-type="([^"]+)" title="[^"]*">([^<]*)<sub>/).map { (String($0.1), String($0.2)) }
        // The page highlights the entities that do not overlap an earlier one.
        var drawn: [(String, String)] = []
        var cursor = 0
        for entity in expected.sorted(by: { ($0.start, -$0.end) < ($1.start, -$1.end) }) where entity.start >= cursor {
            drawn.append((entity.type, Self.escaped(entity.text)))
            cursor = entity.end
        }
        #expect(marks.map(\.0) == drawn.map(\.0), "\(dom.prefix(4000))")
        #expect(marks.map(\.1) == drawn.map(\.1))
        // Every entity is a row of the table, and the status line counts them.
        #expect(dom.contains("\(expected.count) entities"))
        #expect(dom.components(separatedBy: "<tr data-type=").count - 1 == expected.count)
        annotator.shutdown()
    }

    /// With a relation head and linked entities, the page lists the answer's relations, each
    /// argument by the concept's name, and counts them in the status line. The test model's
    /// untrained heads find arbitrary entities: a linker made of their own texts gives each a
    /// concept, and a relation head over every type whose threshold lets every pair through
    /// makes a relation of every candidate.
    @Test(.enabled(if: browser != nil || required, "no Chromium on the PATH"))
    func listsTheRelationsFound() async throws {
        let browser = try #require(Self.browser, "BIOTAG_REQUIRE_BROWSER=1 but no chromium on the PATH")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-page-relations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try SyntheticCorpora.relationDocuments(12).write(toFile: folder + "/train.pubtator", atomically: true, encoding: .utf8)
        let trained = try BiotagCommand.run(["train-relations", "--model", TestModels.twoHeads, "--train", folder + "/train.pubtator", "--out", folder + "/model",
                                             "--width", "4", "--inner", "4", "--epochs", "1", "--arguments", "chemical=chemical|disease|gene,disease=disease|chemical|gene"])
        try #require(trained.status == 0, "\(trained.stderr)")
        let tasksPath = folder + "/model/tasks.json"
        let tasks = try String(contentsOfFile: tasksPath, encoding: .utf8)
        try tasks.replacing(/"threshold" : [0-9.e-]+/, with: "\"threshold\" : 0.0001").write(toFile: tasksPath, atomically: true, encoding: .utf8)
        let annotator = try Annotator(model: try MultiTaskModel(directory: folder + "/model"), threads: 1, workers: 1)
        defer { annotator.shutdown() }
        let text = "Lithium induced tremor and seizures in rats treated with cisplatin; BRCA1 carriers had asthma after aspirin."
        var byType: [String: [Concept]] = [:]
        for entity in try annotator.annotate([Document(id: "0", text: text)])[0].passages[0].entities where byType[entity.type]?.contains(where: { $0.name == entity.text }) != true {
            byType[entity.type, default: []].append(Concept(id: "T:\(entity.type):\(byType[entity.type]?.count ?? 0)", name: entity.text, synonyms: [], alternateIds: []))
        }
        let linker = DocumentLinker(linkers: LinkerSet(linkers: try byType.mapValues { try Linker(dictionary: ConceptDictionary(concepts: $0)) }), minimumScore: 0)
        let names = Dictionary(byType.values.joined().map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let expected = try annotator.annotate([Document(id: "0", text: text)], linking: linker)[0].relations
        try #require(expected.count >= 2, "the test model's entities make \(expected.count) relations")
        let dom = try await Self.page(text, annotator: annotator, linker: linker, browser: browser)
        let table = try #require(dom.firstMatch(of: /<table id="relations">(.*?)<\/table>/)?.1, "no relations table shown: \(dom.prefix(4000))")
        let rows = table.matches(of: /<tr><td>([^<]*)<\/td>/).map { String($0.1) }
        #expect(rows == expected.map(\.type), "\(table)")
        #expect(dom.contains("entities, \(expected.count) relations"))
        // Each argument is named by its concept, as the linker named it.
        for argument in expected.flatMap(\.arguments) {
            #expect(table.contains(Self.escaped(names[argument.concept] ?? argument.concept)), "\(argument.concept) in \(table)")
        }
    }

    /// The page for `/?text=…` from a live service over `annotator` (and `linker`), as the
    /// browser rendered it.
    static func page(_ text: String, annotator: Annotator, linker: DocumentLinker?, browser: String) async throws -> String {
        let service = AnnotationService(annotator: annotator, linker: linker, batching: BatchingSettings(), limits: ServerLimits())
        defer { service.stop(grace: .seconds(5)) }
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            var query = URLComponents(string: "http://127.0.0.1:\(port)/")!
            query.queryItems = [URLQueryItem(name: "text", value: text)]
            return try await Self.render(query.url!.absoluteString, browser: browser)
        }
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The DOM after the page's scripts ran (`--dump-dom`; the virtual time budget lets the fetch
    /// finish), from a process on its own thread so the server's tasks keep running.
    static func render(_ url: String, browser: String) async throws -> String {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: browser)
                process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                     "--user-data-dir=\(profile.path)", "--virtual-time-budget=15000", "--dump-dom", url]
                let output = Pipe()
                process.standardOutput = output
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }
}
