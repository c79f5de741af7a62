import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads a BioC XML collection (collection → document → passage → annotation, with
/// sentence-level text and annotations folded into their passage). Offsets are read as Unicode
/// scalar indices. The whole file is parsed before the first document is returned. Document-level
/// relations are read from their infons (`BioCRawDocument.relation`, nodes not needed); annotation
/// infons other than `type`, `score`, `identifier` and `concept_name` are not kept.
struct BioCXMLReader: DocumentReader {
    private var items: IndexingIterator<[ReadItem]>

    init(path: String) throws(FormatError) {
        try self.init(data: try readWholeInput(path: path), name: displayName(of: path))
    }

    /// Reads a collection held in memory (a request's body); `name` locates its errors.
    init(data: Data, name: String) throws(FormatError) {
        // A stream, not XMLParser(data:): swift-corelibs-foundation hands `data` to libxml2 in
        // one piece, which libxml2 refuses above 10 MB; the stream is fed in small chunks.
        // FoundationXML traps on invalid UTF-8 in element and attribute names, so the bytes are
        // checked first: a bad file is an error that names its line, never a crash.
        if let bad = firstInvalidUTF8(data) {
            throw FormatError(file: name, line: bad.line, message: "not valid UTF-8 (byte \(bad.offset + 1) of the file)")
        }
        // XMLParser (libxml2) drops an internal DTD entity's text, and everything after an
        // external one, from the characters it reports, without an error: the passage read would
        // not be the text the file holds. So a file that declares entities is refused.
        if let declaration = Self.entityDeclaration(in: data) {
            throw FormatError(file: name, line: declaration.line, message: declaration.external
                ? "declares the external entity '\(declaration.name)': external entities are refused (only the file's own text is annotated)"
                : "declares the entity '\(declaration.name)' in its DTD: biotag does not expand DTD entities (it would annotate another text than the file's); write its text in place of &\(declaration.name);")
        }
        let parser = XMLParser(stream: InputStream(data: data))
        parser.shouldResolveExternalEntities = false
        let handler = BioCXMLHandler(location: name)
        parser.delegate = handler
        // parse() can report success after an error (a truncated file), and parserError then
        // holds the last error, so the first one comes from the delegate.
        if !parser.parse() || parser.parserError != nil {
            let (line, column, error) = handler.firstError ?? (parser.lineNumber, parser.columnNumber, parser.parserError)
            throw FormatError(file: name, line: line, message: "malformed BioC XML at column \(column): \(Self.explain(error))")
        }
        guard handler.root == "collection" else {
            throw FormatError(file: name, message: "expected a BioC <collection>, found \(handler.root.map { "<\($0)>" } ?? "no XML element")")
        }
        items = handler.items.makeIterator()
    }

    /// The first `<!ENTITY` declaration of the prolog (before the root element), with its line
    /// and whether it names an external resource (SYSTEM or PUBLIC).
    static func entityDeclaration(in data: Data) -> (line: Int, name: String, external: Bool)? {
        let bytes = [UInt8](data.prefix(1 << 20))
        let marker = Array("<!ENTITY".utf8)
        var line = 1, index = 0
        while index + marker.count <= bytes.count {
            let byte = bytes[index]
            if byte == 0x0A { line += 1 }
            // The root element's start tag ends the prolog: `<` followed by a name character.
            if byte == 0x3C, index + 1 < bytes.count, bytes[index + 1] != 0x21, bytes[index + 1] != 0x3F { return nil }
            if byte == 0x3C, Array(bytes[index..<(index + marker.count)]) == marker {
                var rest = String(decoding: bytes[(index + marker.count)...].prefix(400), as: UTF8.self)
                    .split(whereSeparator: { $0.isWhitespace }).map(String.init)
                if rest.first == "%" { rest.removeFirst() }
                let name = rest.first.map { String($0.prefix { $0 != ">" && $0 != "\"" && $0 != "'" }) } ?? ""
                let external = rest.count > 1 && (rest[1] == "SYSTEM" || rest[1] == "PUBLIC")
                return (line, name, external)
            }
            index += 1
        }
        return nil
    }

    /// The parser's error in words. swift-corelibs-foundation reports only libxml2's error
    /// number (`xmlerror.h`), so the common ones are spelled out here.
    private static func explain(_ error: Error?) -> String {
        guard let error else { return "unknown error" }
        #if canImport(FoundationXML)
        let code = (error as NSError).code
        let messages = [
            4: "the file is empty",
            5: "the file ends before all its elements are closed, or has content after the root element",
            9: "a character that XML does not allow",
            23: "an entity reference without its ';'",
            26: "an undeclared entity (XML defines only &amp; &lt; &gt; &quot; &apos;)",
            27: "an undeclared entity (XML defines only &amp; &lt; &gt; &quot; &apos;)",
            82: "an external entity (refused: only the file's own text is annotated)",
            88: "a parameter entity inside a declaration (entity expansion refused)",
            89: "an entity that refers to itself (entity expansion refused)",
            104: "an entity that cannot be processed (entity expansion refused)",
            68: "a name is expected here (an unescaped '&' or '<' in text?)",
            73: "'>' expected",
            76: "a closing tag does not match the element it closes",
            77: "the file ends inside a tag",
        ]
        return messages[code] ?? "libxml2 error \(code)"
        #else
        return error.localizedDescription
        #endif
    }

    mutating func next() throws(FormatError) -> ReadItem? { items.next() }
}

/// The XMLParser delegate: tracks the open elements and fills raw BioC documents.
private final class BioCXMLHandler: NSObject, XMLParserDelegate {
    let location: String
    var items: [ReadItem] = []
    private var path: [String] = []
    private var characters = ""
    private var document: BioCRawDocument?
    private var documentLine = 0
    private var passage: BioCRawPassage?
    private var sentence: (offset: Int, text: String)?
    private var annotation: BioCRawAnnotation?
    private var infonKey: String?
    private var relation: [String: String]?

    /// The first error, where the parser found it.
    var firstError: (line: Int, column: Int, error: Error?)?
    /// The name of the root element.
    var root: String?

    init(location: String) { self.location = location }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        if firstError == nil { firstError = (parser.lineNumber, parser.columnNumber, parseError) }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        if path.isEmpty, root == nil { root = name }
        path.append(name)
        characters = ""
        switch name {
        case "document":
            document = BioCRawDocument()
            documentLine = parser.lineNumber
        case "passage" where document != nil: passage = BioCRawPassage()
        case "sentence" where passage != nil: sentence = (0, "")
        case "annotation" where passage != nil: annotation = BioCRawAnnotation()
        case "relation" where document != nil && passage == nil: relation = [:]
        case "infon": infonKey = attributes["key"]
        case "location" where annotation != nil:
            if let offset = attributes["offset"].flatMap(Int.init), let length = attributes["length"].flatMap(Int.init) {
                annotation?.locations.append((offset, length))
            }
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { characters += string }

    func parser(_ parser: XMLParser, foundCDATA block: Data) { characters += String(decoding: block, as: UTF8.self) }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        let parent = path.count >= 2 ? path[path.count - 2] : ""
        path.removeLast()
        switch (name, parent) {
        case ("id", "document"): document?.id = characters.trimmingCharacters(in: .whitespacesAndNewlines)
        case ("infon", _): setInfon(in: parent)
        case ("offset", "passage"):
            if let offset = Int(characters.trimmingCharacters(in: .whitespacesAndNewlines)) { passage?.offset = offset }
            else { document?.problem = "passage offset '\(characters)' is not a number" }
        case ("offset", "sentence"): sentence?.offset = Int(characters.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        case ("text", "passage"): passage?.text = characters
        case ("text", "sentence"): sentence?.text = characters
        case ("sentence", _):
            if let sentence, sentence.offset >= 0 { passage?.sentences.append(sentence) }
            sentence = nil
        case ("annotation", _):
            if let annotation { passage?.annotations.append(annotation) }
            annotation = nil
        case ("passage", "document"):
            if let passage { document?.passages.append(passage) }
            passage = nil
        case ("relation", "document"):
            if let relation { document?.relations.append(relation) }
            relation = nil
        case ("document", _):
            if let document { items.append(document.item(location: "\(location):\(documentLine)")) }
            document = nil
        default: break
        }
    }

    private func setInfon(in parent: String) {
        guard let key = infonKey else { return }
        switch parent {
        case "document": document?.infons[key] = characters
        case "passage": passage?.infons[key] = characters
        case "annotation": annotation?.infons[key] = characters
        case "relation": relation?[key] = characters
        default: break
        }
        infonKey = nil
    }
}

/// Writes a BioC XML collection: the header with the first document (or at `finish()` when
/// there is none), each document as it comes, the closing tag at `finish()`. Documents keep
/// their infons and passages (offsets, infons, text); annotations are the passages' entities
/// (see `BioCAnnotationOut`), offsets in Unicode scalars.
///
/// Characters that XML 1.0 forbids (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE,
/// U+FFFF) are written as a space, one scalar for one, so offsets stay valid; a carriage return
/// is written `&#13;` so that XML line-end normalisation does not drop it.
struct BioCXMLWriter: DocumentWriter {
    let output: OutputSink
    private var started = false
    private var finished = false

    init(output: OutputSink) { self.output = output }

    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError) {
        try startIfNeeded()
        var xml = "  <document>\n    <id>\(XMLText.escape(document.id))</id>\n"
        xml += Self.infons(document.infons, indent: "    ")
        var counter = 0
        var written: [BioCAnnotationOut] = []
        for passage in document.passages {
            xml += "    <passage>\n" + Self.infons(passage.infons, indent: "      ")
            xml += "      <offset>\(passage.offset)</offset>\n      <text>\(XMLText.escape(passage.text))</text>\n"
            let annotations = BioCAnnotationOut.of(passage, model: model, counter: &counter)
            written += annotations
            for annotation in annotations {
                xml += "      <annotation id=\"\(XMLText.escape(annotation.id, attribute: true))\">\n"
                xml += Self.infons(annotation.infons, indent: "        ")
                xml += "        <location offset=\"\(annotation.offset)\" length=\"\(annotation.length)\"/>\n"
                xml += "        <text>\(XMLText.escape(annotation.text))</text>\n      </annotation>\n"
            }
            xml += "    </passage>\n"
        }
        for relation in BioCRelationOut.of(document, annotations: written) {
            xml += "    <relation id=\"\(XMLText.escape(relation.id, attribute: true))\">\n" + Self.infons(relation.infons, indent: "      ")
            for node in relation.nodes {
                xml += "      <node refid=\"\(XMLText.escape(node.refid, attribute: true))\" role=\"\(XMLText.escape(node.role, attribute: true))\"/>\n"
            }
            xml += "    </relation>\n"
        }
        try output.write(xml + "  </document>\n")
    }

    mutating func abandon() { output.abandon() }

    mutating func finish() throws(FormatError) {
        guard !finished else { return }
        try startIfNeeded()
        try output.write("</collection>\n")
        try output.finish()
        finished = true
    }

    private mutating func startIfNeeded() throws(FormatError) {
        guard !started else { return }
        started = true
        var header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE collection SYSTEM \"BioC.dtd\">\n<collection>\n"
        header += "  <source>\(BioCCollection.source)</source>\n  <date>\(BioCCollection.date)</date>\n"
        header += "  <key>\(BioCCollection.key)</key>\n" + Self.infons(BioCCollection.infons, indent: "  ")
        try output.write(header)
    }

    private static func infons(_ infons: [String: String], indent: String) -> String {
        infons.sorted { $0.key < $1.key }.map { "\(indent)<infon key=\"\(XMLText.escape($0.key, attribute: true))\">\(XMLText.escape($0.value))</infon>\n" }.joined()
    }
}

/// XML 1.0 escaping that keeps one scalar per scalar of offset-bearing text.
enum XMLText {
    /// Escapes markup characters and quotes; writes CR (and in attributes LF and TAB) as
    /// character references so that neither line-end nor attribute-value normalisation changes
    /// them; replaces characters XML 1.0 forbids by a space.
    static func escape(_ value: String, attribute: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#13;"
            case "\n": out += attribute ? "&#10;" : "\n"
            case "\t": out += attribute ? "&#9;" : "\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += " "
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// The byte offset and line of the first byte sequence that is not UTF-8, nil if all of it is.
func firstInvalidUTF8(_ data: Data) -> (offset: Int, line: Int)? {
    data.withUnsafeBytes { raw -> (offset: Int, line: Int)? in
        let bytes = raw.bindMemory(to: UInt8.self)
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        // Slow path, only for a bad file: find the first sequence the decoder refuses.
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var consumed = 0, line = 1
        while true {
            let before = consumed
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar):
                consumed += UTF8.width(scalar)
                if scalar == "\n" { line += 1 }
            case .emptyInput: return nil
            case .error: return (before, line)
            }
        }
    }
}
