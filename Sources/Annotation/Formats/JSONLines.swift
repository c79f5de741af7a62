import Foundation

/// Reads one JSON object per line (blank lines skipped). The id field may be a string or a
/// number; each present, non-null text field becomes a passage (`infons["field"]` = its name)
/// placed after the previous one plus one separator, as PubTator counts title + space +
/// abstract. Offsets are Unicode scalars. Bad lines become rejects located `file:line`.
struct JSONLinesReader: DocumentReader {
    private var lines: ByteLineReader
    private let textFields: [String]
    private let idField: String
    private let decoder = JSONDecoder()

    init(path: String, textFields: [String], idField: String) throws(FormatError) {
        guard !textFields.isEmpty else {
            throw FormatError(file: displayName(of: path), message: "no JSON text field given (expected at least one, e.g. text)")
        }
        lines = try ByteLineReader(path: path)
        self.textFields = textFields
        self.idField = idField
    }

    mutating func next() throws(FormatError) -> ReadItem? {
        while let line = try lines.next() {
            let location = "\(lines.name):\(lines.lineNumber)"
            guard case .text(let text) = line else { return .rejected(Reject(location: location, reason: "not valid UTF-8")) }
            if text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) { continue }
            return item(from: text, location: location)
        }
        return nil
    }

    private func item(from line: String, location: String) -> ReadItem {
        func reject(_ reason: String, id: String? = nil) -> ReadItem { .rejected(Reject(id: id, location: location, reason: reason)) }
        // JSON allows no raw control character (a string must escape it, as \u0000).
        if let (column, control) = line.unicodeScalars.enumerated().first(where: { $0.element.value < 0x20 && $0.element != "\t" && $0.element != "\r" }) {
            return reject(String(format: "not valid JSON: control character U+%04X at column %d (escape it, as \\u%04X)", control.value, column + 1, control.value))
        }
        let record: [String: FieldValue]
        do { record = try decoder.decode([String: FieldValue].self, from: Data(line.utf8)) } catch DecodingError.typeMismatch {
            return reject("not a JSON object")
        } catch {
            return reject("not valid JSON")
        }
        let id: String
        switch record[idField] {
        case .string(let value) where !value.isEmpty: id = value
        case .number(let value): id = value
        case .string: return reject("field \"\(idField)\" is empty")
        case nil, .null: return reject("no \"\(idField)\" field")
        case .other: return reject("field \"\(idField)\" is not a string or a number")
        }
        var texts: [(name: String, text: String)] = []
        for field in textFields {
            switch record[field] {
            case nil, .null: continue
            case .string(let text): texts.append((field, text))
            case .number, .other: return reject("field \"\(field)\" is not a string", id: id)
            }
        }
        let passages = Passage.fields(texts)
        if passages.isEmpty { return reject("none of the text fields \(textFields.joined(separator: ", "))", id: id) }
        if passages.allSatisfy({ $0.text.isEmpty }) { return reject("empty text", id: id) }
        return .document(Document(id: id, passages: passages))
    }

    /// A top-level field's value, decoded only as far as the reader needs.
    private enum FieldValue: Decodable {
        case string(String)
        /// A number, as written in its shortest form (`12345`, `1.5`).
        case number(String)
        case null
        case other

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let text = try? container.decode(String.self) { self = .string(text) }
            else if let integer = try? container.decode(Int.self) { self = .number(String(integer)) }
            else if let real = try? container.decode(Double.self) { self = .number("\(real)") }
            else { self = .other }
        }
    }
}

/// Writes one JSON object per document and line:
/// `{"id", "model": {"name", "version"}, ["infons"], <text fields>, "entities": [...], ["relations": [...]]}`;
/// a relation is `{"type", "arguments": [{"role", "concept"}], "score"}` (documents without
/// relations have no key).
/// A document of one passage named `text` (or unnamed) gets `"text"` and entity offsets into
/// it; otherwise each passage's text goes under its field name (its `field` infon, else its
/// `type` infon, else `passage<n>`; repeated names get `_2`, `_3`, ...) and each entity gets a
/// `"field"` with offsets relative to that field. Offsets are Unicode scalars; scores are
/// rounded to 4 decimals.
struct JSONLinesWriter: DocumentWriter {
    let output: OutputSink

    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError) {
        try output.write(Self.object(document, model: model) + "\n")
    }

    /// One annotated document as the JSON object of its line (no newline).
    static func object(_ document: Document, model: ModelIdentity) -> String {
        var line = "{\"id\":" + JSONText.string(document.id)
        line += ",\"model\":{\"name\":" + JSONText.string(model.name) + ",\"version\":" + JSONText.string(model.version) + "}"
        if !document.infons.isEmpty { line += ",\"infons\":" + JSONText.object(document.infons) }
        let names = Self.fieldNames(of: document.passages)
        for (passage, name) in zip(document.passages, names) {
            line += "," + JSONText.string(name ?? "text") + ":" + JSONText.string(passage.text)
        }
        var entities: [String] = []
        for (passage, name) in zip(document.passages, names) {
            for entity in passage.entities {
                var fields = name.map { ["\"field\":" + JSONText.string($0)] } ?? []
                fields += [
                    "\"type\":" + JSONText.string(entity.type), "\"start\":\(entity.start)", "\"end\":\(entity.end)",
                    "\"text\":" + JSONText.string(entity.text), "\"score\":" + JSONText.score(entity.score),
                ]
                if !entity.otherTypes.isEmpty { fields.append("\"types\":[" + ([entity.type] + entity.otherTypes).map(JSONText.string).joined(separator: ",") + "]") }
                if let first = entity.concepts.first { fields.append("\"concept\":" + Self.concept(first)) }
                if entity.concepts.count > 1 { fields.append("\"concepts\":[" + entity.concepts.map(Self.concept).joined(separator: ",") + "]") }
                entities.append("{" + fields.joined(separator: ",") + "}")
            }
        }
        line += ",\"entities\":[" + entities.joined(separator: ",") + "]"
        if !document.relations.isEmpty {
            line += ",\"relations\":[" + document.relations.map { relation in
                "{\"type\":" + JSONText.string(relation.type) + ",\"arguments\":["
                    + relation.arguments.map { "{\"role\":" + JSONText.string($0.role) + ",\"concept\":" + JSONText.string($0.concept) + "}" }.joined(separator: ",")
                    + "],\"score\":" + JSONText.score(relation.score) + "}"
            }.joined(separator: ",") + "]"
        }
        return line + "}"
    }

    static func concept(_ concept: ConceptReference) -> String {
        "{\"id\":" + JSONText.string(concept.id) + ",\"name\":" + JSONText.string(concept.name) + ",\"score\":" + JSONText.score(concept.score) + "}"
    }

    mutating func abandon() { output.abandon() }

    mutating func finish() throws(FormatError) { try output.finish() }

    /// nil for the single `text` passage; otherwise a unique field name per passage.
    static func fieldNames(of passages: [Passage]) -> [String?] {
        if passages.count == 1, (passages[0].infons["field"] ?? "text") == "text" { return [nil] }
        var used: Set<String> = ["id", "model", "infons", "entities"]
        return passages.enumerated().map { index, passage in
            let base = passage.infons["field"] ?? passage.infons["type"] ?? "passage\(index + 1)"
            var name = base
            var suffix = 2
            while used.contains(name) {
                name = "\(base)_\(suffix)"
                suffix += 1
            }
            used.insert(name)
            return name
        }
    }
}

/// One annotated document as the JSON object of its JSON-lines line (no newline): what `biotag
/// annotate --to jsonl` writes and `biotag serve` answers.
public func jsonObject(of document: Document, model: ModelIdentity) -> String {
    JSONLinesWriter.object(document, model: model)
}
