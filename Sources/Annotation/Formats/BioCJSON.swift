import Foundation

/// Reads BioC JSON as NCBI's PubTator3 / bioc tools write it: a collection object
/// `{"source", "date", "key", "infons", "documents": [...]}`, also accepted as
/// `{"PubTator3": [documents]}`, a single document object, or an array of collections or
/// documents. Offsets are read as Unicode scalar indices; infon values that are numbers or
/// booleans become their text, null / array / object infons are dropped. A document that has
/// no id or does not decode is rejected (located `file`, the reason naming its position) while
/// the others are read. The whole file is parsed before the first document is returned.
struct BioCJSONReader: DocumentReader {
    private var items: IndexingIterator<[ReadItem]>

    init(path: String) throws(FormatError) {
        try self.init(data: try readWholeInput(path: path), name: displayName(of: path))
    }

    /// Reads BioC JSON held in memory (a request's body); `name` locates its errors.
    init(data: Data, name: String) throws(FormatError) {
        let input: Input
        do { input = try JSONDecoder().decode(Input.self, from: data) } catch {
            throw FormatError(file: name, message: "not valid BioC JSON: \(describe(error))")
        }
        items = input.documents.enumerated().map { index, slot in
            guard case .rejected(var reject) = slot.document.item(location: name) else { return slot.document.item(location: name) }
            reject.reason += " (document \(index + 1))"
            return .rejected(reject)
        }.makeIterator()
    }

    mutating func next() throws(FormatError) -> ReadItem? { items.next() }
}

/// Any top-level shape, flattened to its documents.
private struct Input: Decodable {
    var documents: [DocumentSlot] = []

    init(from decoder: Decoder) throws {
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            if let key = [AnyKey("documents"), AnyKey("PubTator3")].first(where: object.contains) {
                documents = try object.decode([DocumentSlot].self, forKey: key)
            } else {
                documents = [try DocumentSlot(from: decoder)]
            }
        } else {
            var array = try decoder.unkeyedContainer()
            while !array.isAtEnd { documents += try array.decode(Input.self).documents }
        }
    }
}

/// One document; a document that fails to decode keeps the failure as its problem.
private struct DocumentSlot: Decodable {
    var document = BioCRawDocument()

    private enum Keys: String, CodingKey { case id, infons, passages, relations }

    init(from decoder: Decoder) throws {
        do {
            let object = try decoder.container(keyedBy: Keys.self)
            document.id = try? object.decodeIfPresent(LooseString.self, forKey: .id)?.value
            document.infons = try object.decodeIfPresent(Infons.self, forKey: .infons)?.values ?? [:]
            document.passages = try object.decodeIfPresent([JSONPassage].self, forKey: .passages)?.map(\.raw) ?? []
            document.relations = try object.decodeIfPresent([JSONRelation].self, forKey: .relations)?.map(\.infons) ?? []
        } catch {
            document.problem = describe(error)
        }
    }
}

/// A document-level relation: only its infons are read (`BioCRawDocument.relation`).
private struct JSONRelation: Decodable {
    var infons: [String: String] = [:]

    private enum Keys: String, CodingKey { case infons }

    init(from decoder: Decoder) throws {
        infons = try decoder.container(keyedBy: Keys.self).decodeIfPresent(Infons.self, forKey: .infons)?.values ?? [:]
    }
}

private struct JSONPassage: Decodable {
    var raw = BioCRawPassage()

    private enum Keys: String, CodingKey { case offset, infons, text, sentences, annotations }

    init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: Keys.self)
        raw.offset = try object.decodeIfPresent(LooseInt.self, forKey: .offset)?.value ?? 0
        raw.infons = try object.decodeIfPresent(Infons.self, forKey: .infons)?.values ?? [:]
        raw.text = try object.decodeIfPresent(String.self, forKey: .text)
        raw.annotations = try object.decodeIfPresent([JSONAnnotation].self, forKey: .annotations)?.map(\.raw) ?? []
        for sentence in try object.decodeIfPresent([JSONSentence].self, forKey: .sentences) ?? [] {
            if let text = sentence.text { raw.sentences.append((sentence.offset, text)) }
            raw.annotations += sentence.annotations
        }
    }
}

private struct JSONSentence: Decodable {
    var offset = 0
    var text: String?
    var annotations: [BioCRawAnnotation] = []

    private enum Keys: String, CodingKey { case offset, text, annotations }

    init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: Keys.self)
        offset = try object.decodeIfPresent(LooseInt.self, forKey: .offset)?.value ?? 0
        text = try object.decodeIfPresent(String.self, forKey: .text)
        annotations = try object.decodeIfPresent([JSONAnnotation].self, forKey: .annotations)?.map(\.raw) ?? []
    }
}

private struct JSONAnnotation: Decodable {
    var raw = BioCRawAnnotation()

    private enum Keys: String, CodingKey { case infons, locations }
    private struct Location: Decodable { var offset: LooseInt; var length: LooseInt }

    init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: Keys.self)
        raw.infons = try object.decodeIfPresent(Infons.self, forKey: .infons)?.values ?? [:]
        raw.locations = try (object.decodeIfPresent([Location].self, forKey: .locations) ?? []).map { ($0.offset.value, $0.length.value) }
    }
}

/// String-valued infons; numbers and booleans as their text, other values dropped.
private struct Infons: Decodable {
    var values: [String: String] = [:]

    init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: AnyKey.self)
        for key in object.allKeys {
            if let text = try? object.decode(String.self, forKey: key) { values[key.stringValue] = text }
            else if let number = try? object.decode(LooseString.self, forKey: key) { values[key.stringValue] = number.value }
            else if let flag = try? object.decode(Bool.self, forKey: key) { values[key.stringValue] = String(flag) }
        }
    }
}

/// A string, or a number as its text.
private struct LooseString: Decodable {
    var value: String

    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let text = try? single.decode(String.self) { value = text }
        else if let integer = try? single.decode(Int.self) { value = String(integer) }
        else { value = "\(try single.decode(Double.self))" }
    }
}

/// An integer, or a string holding one.
private struct LooseInt: Decodable {
    var value: Int

    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let integer = try? single.decode(Int.self) { value = integer; return }
        let text = try single.decode(String.self)
        guard let integer = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw DecodingError.dataCorruptedError(in: single, debugDescription: "expected an integer offset, found '\(text)'")
        }
        value = integer
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A decoding error in words, as `at documents[2].passages[0].offset: <what went wrong>`: what
/// was expected where, never the decoder's own debugging text.
private func describe(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "not valid BioC JSON" }
    func place(_ context: DecodingError.Context) -> String {
        var path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        if path.hasPrefix(".") { path.removeFirst() }
        return path.isEmpty ? "" : "at \(path): "
    }
    func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
    switch error {
    case let .typeMismatch(type, context): return place(context) + "expected \(kind(type)), found another kind of value"
    case let .valueNotFound(type, context): return place(context) + "expected \(kind(type)), found null or nothing"
    case let .keyNotFound(key, context): return place(context) + "missing field \"\(key.stringValue)\""
    case let .dataCorrupted(context):
        // Our own checks say what was wrong; the JSON parser's own text is replaced by ours.
        return context.underlyingError == nil && !context.codingPath.isEmpty ? place(context) + context.debugDescription : place(context) + "not valid JSON"
    @unknown default: return "not valid BioC JSON"
    }
}

/// Writes a BioC JSON collection in the PubTator3 layout, one document per line: the header with
/// the first document (or at `finish()` when there is none), the closing brackets at `finish()`.
/// Documents keep their infons and passages (offsets, infons, text); annotations are the
/// passages' entities (see `BioCAnnotationOut`), offsets in Unicode scalars.
struct BioCJSONWriter: DocumentWriter {
    let output: OutputSink
    private var count = 0
    private var finished = false

    init(output: OutputSink) { self.output = output }

    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError) {
        var json = count == 0 ? Self.header : ",\n"
        count += 1
        json += "{\"id\":\(JSONText.string(document.id)),\"infons\":\(JSONText.object(document.infons)),\"passages\":["
        var counter = 0
        var written: [BioCAnnotationOut] = []
        json += document.passages.map { passage in
            let out = BioCAnnotationOut.of(passage, model: model, counter: &counter)
            written += out
            let annotations = out.map { annotation in
                "{\"id\":\(JSONText.string(annotation.id)),\"infons\":\(JSONText.object(annotation.infons)),"
                    + "\"text\":\(JSONText.string(annotation.text)),"
                    + "\"locations\":[{\"offset\":\(annotation.offset),\"length\":\(annotation.length)}]}"
            }
            return "{\"offset\":\(passage.offset),\"infons\":\(JSONText.object(passage.infons)),\"text\":\(JSONText.string(passage.text)),"
                + "\"sentences\":[],\"annotations\":[\(annotations.joined(separator: ","))],\"relations\":[]}"
        }.joined(separator: ",")
        let relations = BioCRelationOut.of(document, annotations: written).map { relation in
            "{\"id\":\(JSONText.string(relation.id)),\"infons\":\(JSONText.object(relation.infons)),\"nodes\":["
                + relation.nodes.map { "{\"refid\":\(JSONText.string($0.refid)),\"role\":\(JSONText.string($0.role))}" }.joined(separator: ",") + "]}"
        }
        try output.write(json + "],\"relations\":[\(relations.joined(separator: ","))]}")
    }

    mutating func abandon() { output.abandon() }

    mutating func finish() throws(FormatError) {
        guard !finished else { return }
        try output.write((count == 0 ? Self.header : "\n") + "]}\n")
        try output.finish()
        finished = true
    }

    private static var header: String {
        "{\"source\":\(JSONText.string(BioCCollection.source)),\"date\":\(JSONText.string(BioCCollection.date)),"
            + "\"key\":\(JSONText.string(BioCCollection.key)),\"infons\":\(JSONText.object(BioCCollection.infons)),\"documents\":[\n"
    }
}
