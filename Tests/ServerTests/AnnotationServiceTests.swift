import Annotation
import Foundation
import Hummingbird
import HummingbirdTesting
import Models
import NIOCore
import Server
import Testing
import TestSupport

/// The routes over the router test framework (no port): answers, limits and errors.
@Suite struct AnnotationServiceTests {
    static func service(_ configure: (inout BatchingSettings, inout ServerLimits) -> Void = { _, _ in }) throws -> (AnnotationService, Annotator) {
        let annotator = try Annotator(model: try MultiTaskModel(directory: TestModels.twoHeads), threads: 1, workers: 1)
        var batching = BatchingSettings(), limits = ServerLimits()
        configure(&batching, &limits)
        return (AnnotationService(annotator: annotator, linker: nil, batching: batching, limits: limits), annotator)
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
                ("{\"records\": [{\"text\": \"a\"}]}", .unprocessableContent, "records[0]: no"),
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
}
