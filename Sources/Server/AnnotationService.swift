import Annotation
import Foundation
import Hummingbird
import Linking
import Models
import NIOCore
import Synchronization
import Tensors
import Tokenization

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
    public let metrics = ServiceMetrics()
    private let identity: ModelIdentity
    private let tasks: [String]
    private let reportedTypes: [String: Set<String>]
    private let linkerSet: LinkerSet?
    /// The heads that have a linker, sorted.
    private let linkerNames: [String]
    /// `/openapi.json`, with this model's heads and linkers.
    private let openAPI: String
    private let tokenizer: WordPieceTokenizerReference
    private let apiKey: [UInt8]?
    private let stopping = Atomic<Bool>(false)

    /// One pipeline lane: `annotator` spreads each batch over its workers.
    public convenience init(annotator: Annotator, linker: DocumentLinker?, batching: BatchingSettings, limits: ServerLimits, apiKey: String? = nil,
                            warmUp: Bool = false) {
        self.init(annotators: [annotator], linker: linker, batching: batching, limits: limits, apiKey: apiKey, warmUp: warmUp)
    }

    /// - Parameters:
    ///   - annotators: one per batching lane, each owned by its lane's thread from now on (one
    ///     model, shared); `biotag serve` gives each worker its own lane.
    ///   - linker: links the entities of every request that asks for it (nil: no linking).
    ///   - apiKey: the key the `/v1/` routes require (nil: none).
    ///   - warmUp: first annotate one batch of `batching.maxBatchTokens` wordpieces in sentences of
    ///     the model's full length on every lane, so the pipelines' buffers have their largest
    ///     size before the first client comes: memory then stays flat under any load, and the
    ///     first requests are not the slow ones.
    public init(annotators: [Annotator], linker: DocumentLinker?, batching: BatchingSettings, limits: ServerLimits, apiKey: String? = nil,
                warmUp: Bool = false) {
        precondition(!annotators.isEmpty, "a service needs at least one annotator")
        let first = annotators[0]
        if warmUp {
            let documents = Self.warmUpDocuments(tokens: batching.maxBatchTokens, model: first.model, maxLength: first.settings.maxLength)
            for annotator in annotators { _ = try? annotator.annotate(documents) }
        }
        self.limits = limits
        identity = first.identity
        tasks = first.tasks
        reportedTypes = first.reportedTypes
        linkerSet = linker?.linkers
        linkerNames = linker.map { $0.linkers.linkers.keys.sorted() } ?? []
        openAPI = OpenAPIDocument.json(tasks: first.tasks, linkers: linkerNames)
        tokenizer = WordPieceTokenizerReference(first.model)
        self.apiKey = apiKey.map { Array($0.utf8) }
        let metrics = metrics
        batcher = DynamicBatcher(settings: batching, lanes: annotators.map { annotator in
            { documents, options in
                // One pipeline call per word aggregation asked for and per linking or not (nearly
                // always one); the forward passes are the same, the decoders differ. Only the
                // documents of requests that asked for concepts are linked, and get relations.
                var result = documents
                for aggregation in Set(options.map(\.aggregation)) {
                    for link in [false, true] {
                        let members = documents.indices.filter { options[$0].aggregation == aggregation && options[$0].link == link }
                        guard !members.isEmpty else { continue }
                        let annotated = try annotator.annotate(members.map { documents[$0] }, aggregation: aggregation, linking: link ? linker : nil)
                        for (index, document) in zip(members, annotated) { result[index] = document }
                    }
                }
                return result
            }
        }, observe: { requests, tokens, seconds in
            metrics.batch(requests: requests, tokens: tokens, seconds: seconds)
        })
    }

    /// Sentences of about `maxLength` wordpieces, `tokens` in all.
    static func warmUpDocuments(tokens: Int, model: MultiTaskModel, maxLength: Int) -> [Document] {
        let words = "Cisplatin induced nephrotoxicity and hepatocyte apoptosis in BRCA1 deficient mice with breast cancer".split(separator: " ")
        var sentence: [Substring] = []
        var index = 0
        while model.tokenizer.encode(sentence.joined(separator: " "), addSpecialTokens: true).count < maxLength - 4 {
            sentence.append(words[index % words.count])
            index += 1
        }
        let text = sentence.joined(separator: " ") + "."
        return (0..<Swift.max(1, tokens / maxLength)).map { Document(id: "warm-up-\($0)", text: text) }
    }

    /// Stops taking requests (`/ready` answers 503), answers what is queued or running within
    /// `grace`.
    public func stop(grace: Duration) {
        stopping.store(true, ordering: .sequentiallyConsistent)
        batcher.stop(grace: grace)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestRecorder(metrics: metrics))
        if let apiKey { router.add(middleware: APIKeyMiddleware(key: apiKey)) }
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("openapi.json") { [self] _, _ -> Response in
            Self.json(openAPI)
        }
        router.get("health") { _, _ -> Response in
            Self.json("{\"status\":\"ok\"}")
        }
        router.get("ready") { [self] _, _ -> Response in
            stopping.load(ordering: .sequentiallyConsistent)
                ? Self.json("{\"status\":\"stopping\"}", status: .serviceUnavailable) : Self.json("{\"status\":\"ready\"}")
        }
        router.get("metrics") { [self] _, _ -> Response in
            let queue = batcher.snapshot
            metrics.queue(tokens: queue.queuedTokens, requests: queue.queuedRequests)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("v1/info") { [self] _, _ -> Response in
            let info: [String: Any] = [
                "model": ["name": identity.name, "version": identity.version], "tasks": tasks,
                "linkers": linkerNames, "cpu": "oneDNN \(CPUFeatures.dnnlVersion), \(CPUFeatures.instructionSet)",
                "limits": ["payload_bytes": limits.payloadBytes, "texts": limits.texts, "max_batch_tokens": batcher.settings.maxBatchTokens,
                           "max_queue_tokens": batcher.settings.maxQueueTokens],
            ]
            return Self.json(String(decoding: try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys]), as: UTF8.self))
        }
        router.post("v1/annotate") { [self] request, _ -> Response in
            if let bioc = BioCBody.format(of: request) { return try await annotateBioC(request, format: bioc) }
            let body = try await Self.requestObject(request, limit: limits.payloadBytes)
            let documents = try AnnotateRequest.documents(from: body, maxTexts: limits.texts)
            let (types, options) = try requestOptions(request, body: body)
            let annotated = try await annotate(documents, types: types, options: options)
            return Self.json("{\"documents\":[" + annotated.map { jsonObject(of: $0, model: identity) }.joined(separator: ",") + "]}")
        }
        router.post("v1/tokenize") { [self] request, _ -> Response in
            let body = try await Self.requestObject(request, limit: limits.payloadBytes)
            guard let texts = body["texts"] as? [String] else { throw HTTPError(.unprocessableContent, message: "\"texts\" must be an array of strings") }
            guard texts.count <= limits.texts else { throw HTTPError(.contentTooLarge, message: "\(texts.count) texts, more than the limit of \(limits.texts)") }
            let encodings = texts.map { JSONText.object(of: tokenizer.model.tokenizer.encode($0)) }
            return Self.json("{\"tokens\":[" + encodings.joined(separator: ",") + "]}")
        }
        router.post("v1/link") { [self] request, _ -> Response in
            let body = try await Self.requestObject(request, limit: limits.payloadBytes)
            let top = try AnnotateRequest.integer("top", in: body, range: 1...100) ?? 5
            guard let mentions = body["mentions"] as? [Any] else { throw HTTPError(.unprocessableContent, message: "\"mentions\" must be an array of objects") }
            guard mentions.count <= limits.texts else { throw HTTPError(.contentTooLarge, message: "\(mentions.count) mentions, more than the limit of \(limits.texts)") }
            let available = linkerSet?.linkers ?? [:]
            var results: [[String: Any]] = []
            for (index, item) in mentions.enumerated() {
                guard let mention = item as? [String: Any], let text = mention["text"] as? String, let type = mention["type"] as? String else {
                    throw HTTPError(.unprocessableContent, message: "mentions[\(index)] must be an object with \"text\" and \"type\" strings")
                }
                guard let linker = available[type] else {
                    throw HTTPError(.unprocessableContent, message: "mentions[\(index)]: no linker for type \"\(type)\"; this server links: \(available.keys.sorted().joined(separator: ", "))")
                }
                let context = mention["context"].flatMap { $0 is NSNull ? nil : $0 }
                guard context == nil || context is String else { throw HTTPError(.unprocessableContent, message: "mentions[\(index)].context must be a string") }
                var answer = linkAnswerObject(text: text, parts: linker.link(text, abbreviations: Abbreviations(text: context as? String ?? ""), top: top))
                answer["type"] = type
                results.append(answer)
            }
            let data = try JSONSerialization.data(withJSONObject: ["results": results], options: [.sortedKeys, .withoutEscapingSlashes])
            return Self.json(String(decoding: data, as: UTF8.self))
        }
        return router
    }

    /// A BioC collection in, the same collection with its annotations out, in the same format;
    /// the options come from the query (`?tasks=gene,disease&link=false`).
    private func annotateBioC(_ request: Request, format: InputFormat) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: limits.payloadBytes)
        let items: [ReadItem]
        do { items = try readDocuments(Data(buffer: body), format: format, name: "body") } catch {
            throw HTTPError(.badRequest, message: error.description)
        }
        var documents: [Document] = []
        for (index, item) in items.enumerated() {
            switch item {
            case let .document(document): documents.append(document)
            case let .rejected(reject): throw HTTPError(.unprocessableContent, message: "document \(index + 1)\(reject.id.map { " (\($0))" } ?? ""): \(reject.reason)")
            }
        }
        guard documents.count <= limits.texts else { throw HTTPError(.contentTooLarge, message: "\(documents.count) documents, more than the limit of \(limits.texts)") }
        let (types, options) = try requestOptions(request, body: [:])
        let annotated = try await annotate(documents, types: types, options: options)
        let output = try writeDocuments(annotated, format: format == .biocXML ? .biocXML : .biocJSON, model: identity)
        return Response(status: .ok, headers: [.contentType: BioCBody.contentType(format)], body: ResponseBody(byteBuffer: ByteBuffer(bytes: output)))
    }

    /// Queues a request's documents (counted in wordpieces), waits for its batch, and keeps the
    /// entities of `types` (nil: all); a queue refusal becomes its HTTP status.
    private func annotate(_ documents: [Document], types: Set<String>?, options: RequestOptions) async throws -> [Document] {
        let tokens = documents.reduce(0) { total, document in total + document.passages.reduce(0) { $0 + tokenizer.count($1.text) } }
        let annotated: [Document]
        do { annotated = try await batcher.submit(documents, tokens: tokens, options: options) } catch let error as QueueError { throw Self.httpError(error) }
        return types.map { types in annotated.map { Self.keeping(types, in: $0) } } ?? annotated
    }

    /// A request's "tasks", "link" and "aggregation": from its JSON body where it gives them, else
    /// from the query (`?tasks=gene,disease&link=false&aggregation=max`, the only place a BioC
    /// body has for them).
    private func requestOptions(_ request: Request, body: [String: Any]) throws -> (types: Set<String>?, options: RequestOptions) {
        // The query's values are checked even where the body overrides them.
        let query = request.uri.queryParameters
        var types = try reportedTypes(of: query["tasks"].map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } })
        if let named = body["tasks"], !(named is NSNull) { types = try reportedTypes(of: named) }
        var options = RequestOptions()
        switch query["link"].map(String.init) {
        case nil, "true": options.link = true
        case "false": options.link = false
        case let value?: throw HTTPError(.unprocessableContent, message: "link=\(value): expected true or false")
        }
        if let link = try AnnotateRequest.flag("link", in: body) { options.link = link }
        options.aggregation = try Self.aggregation(query["aggregation"].map(String.init), from: "the query")
        switch body["aggregation"] {
        case nil, is NSNull: break
        case let value as String: options.aggregation = try Self.aggregation(value, from: "the body")
        default: throw HTTPError(.unprocessableContent, message: "\"aggregation\" must be a string")
        }
        return (types, options)
    }

    private static func aggregation(_ name: String?, from place: String) throws -> AggregationStrategy? {
        guard let name else { return nil }
        guard let aggregation = AggregationStrategy(rawValue: name) else {
            throw HTTPError(.unprocessableContent, message: "unknown aggregation \"\(name)\" in \(place); expected one of \(AggregationStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return aggregation
    }

    /// The entity types of the heads a request names in "tasks" (nil: all of them).
    private func reportedTypes(of value: Any?) throws -> Set<String>? {
        guard let value, !(value is NSNull) else { return nil }
        guard let names = value as? [String] else { throw HTTPError(.unprocessableContent, message: "\"tasks\" must be an array of strings") }
        var types: Set<String> = []
        for name in names {
            guard let reported = reportedTypes[name] else {
                throw HTTPError(.unprocessableContent, message: "unknown task \"\(name)\"; this model has: \(tasks.joined(separator: ", "))")
            }
            types.formUnion(reported)
        }
        return types
    }

    /// The document with only the entities of `types`. A span the overlap rule gave to another
    /// head is kept under its first wanted type, without concepts (they were linked for the other).
    static func keeping(_ types: Set<String>, in document: Document) -> Document {
        var document = document
        for p in document.passages.indices {
            document.passages[p].entities = document.passages[p].entities.compactMap { entity in
                var kept = entity
                kept.otherTypes = entity.otherTypes.filter(types.contains)
                if types.contains(entity.type) { return kept }
                guard let first = kept.otherTypes.first else { return nil }
                kept.type = first
                kept.otherTypes.removeFirst()
                kept.concepts = []
                return kept
            }
        }
        return document
    }

    /// The request's body as a JSON object: 413 above `limit` bytes, 400 when it is not JSON
    /// (or not UTF-8), 422 when it is JSON but not an object.
    static func requestObject(_ request: Request, limit: Int) async throws -> [String: Any] {
        var request = request
        let body = try await request.collectBody(upTo: limit)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(buffer: body)) } catch {
            throw HTTPError(.badRequest, message: "the body is not valid JSON (UTF-8)")
        }
        guard let dictionary = object as? [String: Any] else { throw HTTPError(.unprocessableContent, message: "the body must be a JSON object") }
        return dictionary
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

/// BioC bodies: `application/x-bioc+xml` (also `application/xml`, `text/xml`) and
/// `application/x-bioc+json`.
enum BioCBody {
    static func format(of request: Request) -> InputFormat? {
        guard let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() else { return nil }
        switch type {
        case "application/x-bioc+xml", "application/xml", "text/xml": return .biocXML
        case "application/x-bioc+json": return .biocJSON
        default: return nil
        }
    }

    static func contentType(_ format: InputFormat) -> String {
        format == .biocXML ? "application/x-bioc+xml; charset=utf-8" : "application/x-bioc+json"
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
    static func documents(from body: [String: Any], maxTexts: Int) throws -> [Document] {
        let fields = try strings("text_fields", in: body) ?? ["text"]
        guard !fields.isEmpty else { throw HTTPError(.unprocessableContent, message: "\"text_fields\" names no field") }
        let idField: String
        switch body["id_field"] {
        case nil, is NSNull: idField = "id"
        case let value as String: idField = value
        default: throw HTTPError(.unprocessableContent, message: "\"id_field\" must be a string")
        }
        switch (body["texts"], body["records"]) {
        case (nil, nil): throw HTTPError(.unprocessableContent, message: "expected \"texts\" (strings) or \"records\" (objects)")
        case (.some, .some): throw HTTPError(.unprocessableContent, message: "give \"texts\" or \"records\", not both")
        case let (texts?, nil):
            guard let texts = texts as? [String] else { throw HTTPError(.unprocessableContent, message: "\"texts\" must be an array of strings") }
            guard texts.count <= maxTexts else { throw HTTPError(.contentTooLarge, message: "\(texts.count) texts, more than the limit of \(maxTexts)") }
            return texts.enumerated().map { Document(id: "\($0)", text: $1) }
        case (nil, _): break
        }
        guard let records = body["records"] as? [[String: Any]] else { throw HTTPError(.unprocessableContent, message: "\"records\" must be an array of objects") }
        guard records.count <= maxTexts else { throw HTTPError(.contentTooLarge, message: "\(records.count) records, more than the limit of \(maxTexts)") }
        return try records.enumerated().map { index, record in
            let id: String
            switch record[idField] {
            case let value as String: id = value
            case let value as NSNumber where !isBoolean(value): id = value.stringValue
            case nil, is NSNull: id = String(index)
            default: throw HTTPError(.unprocessableContent, message: "records[\(index)].\(idField) must be a string or a number")
            }
            var texts: [(name: String, text: String)] = []
            for field in fields {
                guard let value = record[field], !(value is NSNull) else { continue }
                guard let text = value as? String else { throw HTTPError(.unprocessableContent, message: "records[\(index)].\(field) is not a string") }
                texts.append((field, text))
            }
            return Document(id: id, passages: Passage.fields(texts))
        }
    }

    /// An optional array of strings; 422 when it is something else.
    static func strings(_ key: String, in body: [String: Any]) throws -> [String]? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let strings = value as? [String] else { throw HTTPError(.unprocessableContent, message: "\"\(key)\" must be an array of strings") }
        return strings
    }

    /// An optional boolean; 422 when it is something else.
    static func flag(_ key: String, in body: [String: Any]) throws -> Bool? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard isBoolean(value), let flag = value as? Bool else { throw HTTPError(.unprocessableContent, message: "\"\(key)\" must be true or false") }
        return flag
    }

    /// An optional integer within `range`; 422 when it is something else.
    static func integer(_ key: String, in body: [String: Any], range: ClosedRange<Int>) throws -> Int? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !isBoolean(value), let integer = Int(exactly: number.doubleValue), range.contains(integer) else {
            throw HTTPError(.unprocessableContent, message: "\"\(key)\" must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return integer
    }

    /// JSONSerialization gives true and false as NSNumbers too; their type code tells them apart.
    static func isBoolean(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }
}
