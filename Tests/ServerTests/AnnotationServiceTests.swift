import Annotation
import Foundation
import Hummingbird
import HummingbirdTesting
import Linking
import Models
import NIOCore
import Server
import Testing
import TestSupport

/// The routes over the router test framework (no port): answers, limits and errors.
@Suite struct AnnotationServiceTests {
    static func service(linker: DocumentLinker? = nil, apiKey: String? = nil, _ configure: (inout BatchingSettings, inout ServerLimits) -> Void = { _, _ in }) throws -> (AnnotationService, Annotator) {
        let annotator = try Annotator(model: try MultiTaskModel(directory: TestModels.twoHeads), threads: 1, workers: 1)
        var batching = BatchingSettings(), limits = ServerLimits()
        configure(&batching, &limits)
        return (AnnotationService(annotator: annotator, linker: linker, batching: batching, limits: limits, apiKey: apiKey), annotator)
    }

    /// A disease linker over three concepts (the test model's heads are untrained, so its
    /// entities are whatever they are; the linker's answers are not).
    static let linker: DocumentLinker = {
        let dictionary = ConceptDictionary(concepts: [
            Concept(id: "MESH:D001943", name: "Breast Neoplasms", synonyms: ["breast cancer", "breast tumor"], alternateIds: []),
            Concept(id: "MESH:D010051", name: "Ovarian Neoplasms", synonyms: ["ovarian cancer"], alternateIds: []),
            Concept(id: "MESH:D003920", name: "Diabetes Mellitus", synonyms: ["diabetes"], alternateIds: []),
        ])
        return DocumentLinker(linkers: LinkerSet(linkers: ["disease": try! Linker(dictionary: dictionary)]))
    }()

    static func body(_ object: Any) throws -> ByteBuffer { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)) }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    @Test func annotatesAsTheCommandLineWrites() async throws {
        let (service, annotator) = try Self.service()
        let texts = ["Patients with breast cancer received tamoxifen.", "BRCA1 mutations in mice.", ""]
        let expected = try annotator.annotate(texts.enumerated().map { Document(id: "\($0)", text: $1) })
            .map { jsonObject(of: $0, model: annotator.identity) }
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            let body = try JSONSerialization.data(withJSONObject: ["texts": texts])
            try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "{\"documents\":[" + expected.joined(separator: ",") + "]}")
            }
            let records = #"{"records": [{"id": 7, "title": "Breast cancer", "abstract": "In mice."}], "text_fields": ["title", "abstract"]}"#
            try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(string: records)) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let document = (object?["documents"] as? [[String: Any]])?.first
                #expect(document?["id"] as? String == "7" && document?["title"] as? String == "Breast cancer" && document?["abstract"] as? String == "In mice.")
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/info", method: .get) { response in
                #expect(String(buffer: response.body).contains("\"tasks\":[\"disease\",\"mixed\"]"))
            }
            // The web page is served by the binary itself: nothing fetched from elsewhere.
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: response.body)
                #expect(page.contains("v1/annotate") && !page.contains("http://cdn") && !page.contains("<script src"))
            }
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    @Test func badRequestsGetOneStatusEach() async throws {
        let (service, annotator) = try Self.service { _, limits in limits.payloadBytes = 1024; limits.texts = 2 }
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            for (body, status, message) in [
                ("{\"texts\": [", HTTPResponse.Status.badRequest, "not valid JSON"),
                ("[1, 2]", .unprocessableContent, "must be a JSON object"),
                ("{\"texts\": [1]}", .unprocessableContent, "array of strings"),
                ("{\"texts\": [\"a\", \"b\", \"c\"]}", .contentTooLarge, "more than the limit of 2"),
                ("{\"records\": [{\"id\": [1], \"text\": \"a\"}]}", .unprocessableContent, "records[0].id must be a string or a number"),
                ("{\"texts\": [\"" + String(repeating: "a", count: 2000) + "\"]}", .contentTooLarge, ""),
            ] {
                try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body.prefix(40))")
                    #expect(message.isEmpty || String(buffer: response.body).contains(message), "\(String(buffer: response.body))")
                }
            }
            // Invalid UTF-8 is not JSON.
            try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(bytes: [0x7B, 0xFF, 0x7D])) { #expect($0.status == .badRequest) }
        }
        service.stop(grace: .seconds(5))
        // Stopped: not ready, and new work is refused.
        try await app.test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .serviceUnavailable) }
            try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(string: "{\"texts\": [\"x\"]}")) { #expect($0.status == .serviceUnavailable) }
        }
        annotator.shutdown()
    }

    /// Every operation of /openapi.json is called, each answer's status is one the document
    /// declares for it, and every route the tests reach is in the document.
    @Test func everyRouteIsDocumented() async throws {
        let (service, annotator) = try Self.service(linker: Self.linker)
        let app = Application(router: service.router())
        let calls: [(method: HTTPRequest.Method, path: String, body: String?, status: Int)] = [
            (.get, "/", nil, 200), (.get, "/openapi.json", nil, 200), (.get, "/health", nil, 200), (.get, "/ready", nil, 200),
            (.get, "/metrics", nil, 200), (.get, "/v1/info", nil, 200),
            (.post, "/v1/annotate", #"{"texts": ["Breast cancer in BRCA1 carriers."], "tasks": ["disease"], "link": false}"#, 200),
            (.post, "/v1/annotate", #"{"records": [{"id": "a", "title": "T"}, {"title": "no id: its index"}], "text_fields": ["title"]}"#, 200),
            (.post, "/v1/annotate", "{", 400), (.post, "/v1/annotate", #"{"texts": "x"}"#, 422),
            (.post, "/v1/annotate", #"{"texts": ["x"], "tasks": ["nope"]}"#, 422), (.post, "/v1/annotate", #"{"texts": ["x"], "aggregation": "nope"}"#, 422), (.post, "/v1/annotate", #"{"texts": ["x"], "link": "yes"}"#, 422),
            (.post, "/v1/tokenize", #"{"texts": ["BRCA1 carriers", ""]}"#, 200), (.post, "/v1/tokenize", #"{"texts": [3]}"#, 422),
            (.post, "/v1/link", #"{"mentions": [{"text": "breast cancer", "type": "disease"}], "top": 2}"#, 200),
            (.post, "/v1/link", #"{"mentions": [{"text": "x", "type": "gene"}]}"#, 422), (.post, "/v1/link", #"{"mentions": [], "top": 0}"#, 422),
        ]
        try await app.test(.router) { client in
            let document = try await client.execute(uri: "/openapi.json", method: .get) { Data(buffer: $0.body) }
            let spec = try #require(try JSONSerialization.jsonObject(with: document) as? [String: Any])
            let paths = try #require(spec["paths"] as? [String: [String: Any]])
            var reached: Set<String> = []
            for call in calls {
                let (status, body) = try await client.execute(uri: call.path, method: call.method, body: call.body.map { ByteBuffer(string: $0) }) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
                #expect(status == call.status, "\(call.method) \(call.path) \(call.body ?? ""): \(body.prefix(200))")
                let operation = paths[call.path]?[call.method.rawValue.lowercased()] as? [String: Any]
                let declared = (operation?["responses"] as? [String: Any]).map { Set($0.keys) } ?? []
                #expect(declared.contains(String(status)), "\(call.method) \(call.path) answered \(status), not in the document")
                reached.insert("\(call.method.rawValue.lowercased()) \(call.path)")
            }
            let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0) \(path)" } })
            #expect(documented == reached, "documented but not called: \(documented.subtracting(reached)); called but not documented: \(reached.subtracting(documented))")
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    @Test func requestOptionsTokenizeAndLink() async throws {
        let (service, annotator) = try Self.service(linker: Self.linker)
        let texts = ["Breast cancer and ovarian cancer in BRCA1 carriers with diabetes.", "Tamoxifen was given."]
        let all = try annotator.annotate(texts.enumerated().map { Document(id: "\($0)", text: $1) })
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            // "tasks" keeps the entities of those heads; the rest are what the pipeline gives.
            try await client.execute(uri: "/v1/annotate", method: .post, body: try Self.body(["texts": texts, "tasks": ["mixed"], "link": false])) { response in
                let documents = try #require(try Self.object(response)["documents"] as? [[String: Any]])
                let types = documents.flatMap { ($0["entities"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String } }
                // A span the overlap rule gave to the disease head stays under its other type.
                let wanted: Set<String> = ["Chemical", "Gene"]
                let expected = all.flatMap { $0.passages.flatMap(\.entities) }.compactMap { entity in
                    wanted.contains(entity.type) ? entity.type : entity.otherTypes.first(where: wanted.contains)
                }
                #expect(types == expected)
                #expect(!String(buffer: response.body).contains("\"concept\""))
            }
            // With "link", the answer is the offline pipeline's, linked.
            try await client.execute(uri: "/v1/annotate", method: .post, body: try Self.body(["texts": texts])) { response in
                let linked = Self.linker.link(all).map { jsonObject(of: $0, model: annotator.identity) }
                #expect(String(buffer: response.body) == "{\"documents\":[" + linked.joined(separator: ",") + "]}")
            }
            try await client.execute(uri: "/v1/tokenize", method: .post, body: try Self.body(["texts": ["BRCA1 carriers"]])) { response in
                let encoding = annotator.model.tokenizer.encode("BRCA1 carriers")
                #expect(String(buffer: response.body) == "{\"tokens\":[" + JSONText.object(of: encoding) + "]}")
            }
            let mentions: [[String: Any]] = [
                ["text": "breast cancer", "type": "disease"],
                ["text": "breast and ovarian cancer", "type": "disease"],
                ["text": "DM", "type": "disease", "context": "Patients with diabetes mellitus (DM) were seen."],
            ]
            try await client.execute(uri: "/v1/link", method: .post, body: try Self.body(["mentions": mentions, "top": 1])) { response in
                #expect(response.status == .ok)
                let results = try #require(try Self.object(response)["results"] as? [[String: Any]])
                let first = results.map { (($0["concepts"] as? [[String: Any]])?.first?["id"] as? String) ?? "" }
                #expect(first == ["MESH:D001943", "MESH:D001943", "MESH:D003920"])
                #expect((results[1]["parts"] as? [[Any]])?.count == 2 && results[2]["type"] as? String == "disease")
            }
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    @Test func metricsCountRequestsAndBatches() async throws {
        let (service, annotator) = try Self.service()
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(string: #"{"texts": ["BRCA1 in mice."]}"#)) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/v1/annotate", method: .post, body: ByteBuffer(string: "{")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(text.contains(#"biotag_http_requests_total{route="/v1/annotate",method="POST",status="200"} 3"#), "\(text)")
                #expect(text.contains(#"biotag_http_requests_total{route="/v1/annotate",method="POST",status="400"} 1"#))
                #expect(text.contains("biotag_annotated_requests_total 3") && text.contains("biotag_batch_tokens_count 3"))
                #expect(text.contains("biotag_queue_tokens 0") && text.contains("biotag_http_request_duration_seconds_bucket"))
            }
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    @Test func apiKeyGuardsTheV1Routes() async throws {
        let (service, annotator) = try Self.service(apiKey: "s3cret-key")
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/info", method: .get) { response in
                #expect(response.status == .unauthorized && response.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/v1/info", method: .get, headers: [.authorization: "Bearer s3cret-kex"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/info", method: .get, headers: [.authorization: "Bearer s3cret-key-longer"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/info", method: .get, headers: [.authorization: "Bearer s3cret-key"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/annotate", method: .post, headers: [.init("X-API-Key")!: "s3cret-key"],
                                     body: ByteBuffer(string: #"{"texts": ["x"]}"#)) { #expect($0.status == .ok) }
            for open in ["/health", "/ready", "/metrics", "/", "/openapi.json"] {
                try await client.execute(uri: open, method: .get) { #expect($0.status == .ok, "\(open)") }
            }
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    /// A BioC collection in, the same documents annotated out, in the format it came in, written
    /// exactly as `biotag annotate --to bioc-xml / bioc-json` writes them; options from the query.
    @Test func biocBodiesInAndOut() async throws {
        let (service, annotator) = try Self.service(linker: Self.linker)
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <collection><source>s</source><date>d</date><key>k</key>
            <document><id>42</id>
            <passage><infon key="type">title</infon><offset>0</offset><text>Breast cancer in 𝛼-synuclein mice</text></passage>
            <passage><infon key="type">abstract</infon><offset>35</offset><text>BRCA1 carriers given tamoxifen &amp; cisplatin.</text></passage>
            </document></collection>
            """
        let read = try readDocuments(Data(xml.utf8), format: .biocXML, name: "expected")
        guard case let .document(document) = try #require(read.first) else { Issue.record("the collection did not read"); return }
        let annotated = try annotator.annotate([document])
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/annotate", method: .post, headers: [.contentType: "application/x-bioc+xml"], body: ByteBuffer(string: xml)) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("application/x-bioc+xml") == true)
                let expected = try writeDocuments(Self.linker.link(annotated), format: .biocXML, model: annotator.identity)
                #expect(String(buffer: response.body) == String(decoding: expected, as: UTF8.self))
            }
            let json = try writeDocuments([document], format: .biocJSON, model: annotator.identity)
            try await client.execute(uri: "/v1/annotate?link=false&tasks=disease", method: .post, headers: [.contentType: "application/x-bioc+json"],
                                     body: ByteBuffer(bytes: json)) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/x-bioc+json")
                var diseases = annotated[0]
                for p in diseases.passages.indices { diseases.passages[p].entities.removeAll { $0.type != "disease" && !$0.otherTypes.contains("disease") } }
                let expected = try writeDocuments([diseases], format: .biocJSON, model: annotator.identity)
                #expect(String(buffer: response.body) == String(decoding: expected, as: UTF8.self))
            }
            for (type, body, status, message) in [
                ("application/x-bioc+xml", "<collection><document>", HTTPResponse.Status.badRequest, "body:1: malformed BioC XML"),
                ("application/x-bioc+xml", "<collection><document><passage><offset>0</offset><text>x</text></passage></document></collection>", .unprocessableContent, "document 1"),
                ("application/x-bioc+json", "{\"documents\": 3}", .badRequest, "not valid BioC JSON"),
            ] {
                try await client.execute(uri: "/v1/annotate", method: .post, headers: [.contentType: type], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body)")
                    #expect(String(buffer: response.body).contains(message), "\(String(buffer: response.body))")
                }
            }
            try await client.execute(uri: "/v1/annotate?link=maybe", method: .post, body: ByteBuffer(string: #"{"texts": ["x"]}"#)) { #expect($0.status == .unprocessableContent) }
        }
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }

    /// Requests with different word aggregations share a batch, and each gets what the pipeline
    /// gives its documents with its own.
    @Test func eachRequestGetsItsOwnAggregation() async throws {
        let (service, annotator) = try Self.service { batching, _ in batching.maxWait = .milliseconds(300) }
        let texts = [
            "Hyperphenylalaninemia and dihydropteridine reductase deficiency in BRCA1-positive carcinomas.",
            "Tetrahydrobiopterin supplementation in phenylketonuria and adrenoleukodystrophy patients.",
        ]
        let documents = texts.enumerated().map { Document(id: "\($0)", text: $1) }
        let strategies: [AggregationStrategy?] = [nil, .simple, .average, .max]
        let answers = try await withThrowingTaskGroup(of: (Int, [Document]).self) { group in
            for (index, strategy) in strategies.enumerated() {
                group.addTask { (index, try await service.batcher.submit(documents, tokens: 64, options: RequestOptions(aggregation: strategy))) }
            }
            var all = [[Document]](repeating: [], count: strategies.count)
            for try await (index, documents) in group { all[index] = documents }
            return all
        }
        let expected = try strategies.map { try annotator.annotate(documents, aggregation: $0) }
        #expect(answers.map { $0.map(\.passages) } == expected.map { $0.map(\.passages) })
        while !service.batcher.isIdle { try await Task.sleep(for: .milliseconds(2)) }
        #expect(service.batcher.snapshot.batches == 1, "the four requests shared one batch")
        #expect(expected.contains { $0.map(\.passages) != expected[0].map(\.passages) }, "the strategies differ on these texts, so the test tells them apart")
        service.stop(grace: .seconds(5))
        annotator.shutdown()
    }
}
