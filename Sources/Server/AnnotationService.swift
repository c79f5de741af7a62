import Annotation
import Foundation
import Hummingbird
import Linking
import Models
import NIOCore
import Synchronization

/// Limits of `biotag serve`, each refused with its own status.
public struct ServerLimits: Sendable, Equatable {
    /// Largest request body in bytes (413 above).
    public var payloadBytes = 2 * 1024 * 1024
    /// Most texts or records in one request (413 above).
    public var texts = 256

    public init() {}
}

/// The annotation engine over HTTP: the routes, their limits and errors, on a `DynamicBatcher`
/// that packs every client's texts into the pipeline's batches.
public final class AnnotationService: Sendable {
    public let limits: ServerLimits
    public let batcher: DynamicBatcher
    private let identity: ModelIdentity
    private let tasks: [String]
    private let linkers: [String]
    private let tokenizer: WordPieceTokenizerReference
    private let stopping = Atomic<Bool>(false)

    /// - Parameters:
    ///   - annotator: owned by the batcher's thread from now on.
    ///   - linker: links the entities of every batch (nil: no linking).
    public init(annotator: Annotator, linker: DocumentLinker?, batching: BatchingSettings, limits: ServerLimits) {
        self.limits = limits
        identity = annotator.identity
        tasks = annotator.tasks
        linkers = linker.map { $0.linkers.linkers.keys.sorted() } ?? []
        tokenizer = WordPieceTokenizerReference(annotator.model)
        batcher = DynamicBatcher(settings: batching) { documents in
            let annotated = try annotator.annotate(documents)
            return linker?.link(annotated) ?? annotated
        }
    }

    /// Stops taking requests (`/ready` answers 503), answers what is queued or running within
    /// `grace`.
    public func stop(grace: Duration) {
        stopping.store(true, ordering: .sequentiallyConsistent)
        batcher.stop(grace: grace)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health") { _, _ -> Response in
            Self.json("{\"status\":\"ok\"}")
        }
        router.get("ready") { [self] _, _ -> Response in
            stopping.load(ordering: .sequentiallyConsistent)
                ? Self.json("{\"status\":\"stopping\"}", status: .serviceUnavailable) : Self.json("{\"status\":\"ready\"}")
        }
        router.get("v1/info") { [self] _, _ -> Response in
            let info: [String: Any] = ["model": ["name": identity.name, "version": identity.version], "tasks": tasks, "linkers": linkers]
            return Self.json(String(decoding: try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys]), as: UTF8.self))
        }
        router.post("v1/annotate") { [self] request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: limits.payloadBytes)
            let documents = try AnnotateRequest.documents(from: Data(buffer: body), maxTexts: limits.texts)
            let tokens = documents.reduce(0) { total, document in total + document.passages.reduce(0) { $0 + tokenizer.count($1.text) } }
            let annotated: [Document]
            do { annotated = try await batcher.submit(documents, tokens: tokens) } catch let error as QueueError { throw Self.httpError(error) }
            return Self.json("{\"documents\":[" + annotated.map { jsonObject(of: $0, model: identity) }.joined(separator: ",") + "]}")
        }
        return router
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// One status per cause.
    static func httpError(_ error: QueueError) -> HTTPError {
        switch error {
        case .overloaded: HTTPError(.tooManyRequests, headers: [.retryAfter: "1"], message: error.description)
        case .tooLarge: HTTPError(.contentTooLarge, message: error.description)
        case .timedOut, .stopping: HTTPError(.serviceUnavailable, message: error.description)
        case .failed: HTTPError(.internalServerError, message: error.description)
        }
    }
}

/// Counts a text's wordpieces with the model's tokenizer (the queue's unit).
struct WordPieceTokenizerReference: Sendable {
    let model: MultiTaskModel

    init(_ model: MultiTaskModel) { self.model = model }

    func count(_ text: String) -> Int { model.tokenizer.encode(text, addSpecialTokens: false).count + 2 }
}

/// The body of `POST /v1/annotate`: `{"texts": [...]}` or `{"records": [{...}], "text_fields":
/// [...], "id_field": "id"}`.
enum AnnotateRequest {
    static func documents(from data: Data, maxTexts: Int) throws -> [Document] {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw HTTPError(.badRequest, message: "the body is not valid JSON (UTF-8)")
        }
        guard let body = object as? [String: Any] else { throw HTTPError(.unprocessableContent, message: "the body must be a JSON object") }
        if let texts = body["texts"] {
            guard let texts = texts as? [String] else { throw HTTPError(.unprocessableContent, message: "\"texts\" must be an array of strings") }
            guard texts.count <= maxTexts else { throw HTTPError(.contentTooLarge, message: "\(texts.count) texts, more than the limit of \(maxTexts)") }
            return texts.enumerated().map { Document(id: "\($0)", text: $1) }
        }
        guard let records = body["records"] as? [[String: Any]] else {
            throw HTTPError(.unprocessableContent, message: "expected \"texts\" (strings) or \"records\" (objects)")
        }
        guard records.count <= maxTexts else { throw HTTPError(.contentTooLarge, message: "\(records.count) records, more than the limit of \(maxTexts)") }
        let fields = (body["text_fields"] as? [String]) ?? ["text"]
        let idField = (body["id_field"] as? String) ?? "id"
        return try records.enumerated().map { index, record in
            let id: String
            switch record[idField] {
            case let value as String: id = value
            case let value as NSNumber: id = value.stringValue
            default: throw HTTPError(.unprocessableContent, message: "records[\(index)]: no \"\(idField)\" string or number")
            }
            var passages: [Passage] = []
            for field in fields {
                guard let value = record[field], !(value is NSNull) else { continue }
                guard let text = value as? String else { throw HTTPError(.unprocessableContent, message: "records[\(index)].\(field) is not a string") }
                let offset = passages.last.map { $0.offset + $0.length + 1 } ?? 0
                passages.append(Passage(text: text, offset: offset, infons: ["field": field]))
            }
            return Document(id: id, passages: passages)
        }
    }
}
