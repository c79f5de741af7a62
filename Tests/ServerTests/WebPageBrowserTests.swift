import Annotation
import Foundation
import Hummingbird
import HummingbirdTesting
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
        let service = AnnotationService(annotator: annotator, linker: nil, batching: BatchingSettings(), limits: ServerLimits())
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var query = URLComponents(string: "http://127.0.0.1:\(port)/")!
            query.queryItems = [URLQueryItem(name: "text", value: text)]
            let dom = try await Self.render(query.url!.absoluteString, browser: browser)
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
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
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
