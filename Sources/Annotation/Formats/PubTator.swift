import Foundation

/// Reads PubTator: blocks of `PMID|t|title`, `PMID|a|abstract` (either may be missing; other
/// keys become further passages, in order) and `PMID<TAB>start<TAB>end<TAB>mention<TAB>type
/// [<TAB>concept]` lines, separated by blank lines (a text line with a new PMID also starts a new
/// block); a concept column's ids (`|`-separated) become the entity's concepts, without names
/// (`-1`, "no concept", is dropped). Passages are placed as PubTator counts: the first at 0, each next one after the
/// previous plus one separator (abstract at title length + 1); infon `type` = title, abstract,
/// or the key. Annotation offsets are document offsets in Unicode scalars; an annotation inside
/// a passage becomes its entity (text taken from the passage), others are skipped. Relation
/// lines (`PMID<TAB>CID<TAB>chemical<TAB>disease`, a type that is not a number, then concept ids)
/// become the document's relations. A block with a malformed line is rejected, located at that
/// line.
struct PubTatorReader: DocumentReader {
    private var lines: ByteLineReader
    /// A text line read ahead that starts the next block.
    private var pending: (number: Int, line: ByteLineReader.Line)?

    init(path: String) throws(FormatError) { lines = try ByteLineReader(path: path) }

    private struct Block {
        var pmid: String?
        var firstLine: Int?
        var passages: [Passage] = []
        var annotations: [(start: Int, end: Int, type: String, ids: [String])] = []
        var relations: [Relation] = []
        var problem: (line: Int, reason: String)?

        var isEmpty: Bool { firstLine == nil }
    }

    mutating func next() throws(FormatError) -> ReadItem? {
        var block = Block()
        while let next = try nextLine() {
            let (number, line) = next
            guard case .text(let text) = line else {
                block.firstLine = block.firstLine ?? number
                block.problem = block.problem ?? (number, "not valid UTF-8")
                continue
            }
            if text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
                if block.isEmpty { continue } else { break }
            }
            if let parts = Self.textLine(text) {
                let (pmid, key, body) = parts
                if let current = block.pmid, current != pmid {
                    pending = (number, line)
                    break
                }
                block.pmid = pmid
                block.firstLine = block.firstLine ?? number
                let offset = block.passages.last.map { $0.offset + $0.length + 1 } ?? 0
                let type = key == "t" ? "title" : key == "a" ? "abstract" : key
                block.passages.append(Passage(text: body, offset: offset, infons: ["type": type]))
                continue
            }
            block.firstLine = block.firstLine ?? number
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false)
            if (3...4).contains(fields.count), Int(fields[1]) == nil {
                // A relation line: PMID, type, then the concepts in order.
                let pmid = String(fields[0])
                if let current = block.pmid, current != pmid {
                    block.problem = block.problem ?? (number, "relation of PMID \(pmid) in the block of PMID \(current)")
                }
                block.pmid = block.pmid ?? pmid
                let concepts = fields.dropFirst(2).map(String.init)
                guard !fields[1].isEmpty, concepts.allSatisfy({ !$0.isEmpty }) else {
                    block.problem = block.problem ?? (number, "expected PMID<TAB>type<TAB>concept<TAB>concept, found '\(text.prefix(80))'")
                    continue
                }
                let type = String(fields[1])
                let roles = Relation.roles(of: type, count: concepts.count)
                block.relations.append(Relation(type: type, arguments: zip(roles, concepts).map { Relation.Argument(role: $0, concept: $1) }))
                continue
            }
            guard fields.count >= 5, let start = Int(fields[1]), let end = Int(fields[2]) else {
                block.problem = block.problem ?? (number, "expected PMID<TAB>start<TAB>end<TAB>mention<TAB>type, found '\(text.prefix(80))'")
                continue
            }
            let pmid = String(fields[0])
            if let current = block.pmid, current != pmid {
                block.problem = block.problem ?? (number, "annotation of PMID \(pmid) in the block of PMID \(current)")
            }
            block.pmid = block.pmid ?? pmid
            let ids = fields.count > 5 ? fields[5].split(whereSeparator: { $0 == "|" || $0 == "," || $0 == ";" }).map(String.init).filter { $0 != "-1" && !$0.isEmpty } : []
            block.annotations.append((start, end, String(fields[4]), ids))
        }
        return block.isEmpty ? nil : item(of: block)
    }

    private mutating func nextLine() throws(FormatError) -> (Int, ByteLineReader.Line)? {
        if let pending {
            self.pending = nil
            return pending
        }
        guard let line = try lines.next() else { return nil }
        return (lines.lineNumber, line)
    }

    /// `PMID|key|text` split in three, or nil when the line is not a text line.
    private static func textLine(_ line: String) -> (String, String, String)? {
        guard let bar = line.firstIndex(of: "|"), bar > line.startIndex, !line[..<bar].contains("\t") else { return nil }
        let rest = line[line.index(after: bar)...]
        guard let second = rest.firstIndex(of: "|"), second > rest.startIndex, !rest[..<second].contains("\t") else { return nil }
        return (String(line[..<bar]), String(rest[..<second]), String(rest[rest.index(after: second)...]))
    }

    private func item(of block: Block) -> ReadItem {
        let first = block.firstLine ?? lines.lineNumber
        func reject(_ reason: String, line: Int) -> ReadItem {
            .rejected(Reject(id: block.pmid, location: "\(lines.name):\(line)", reason: reason))
        }
        if let problem = block.problem { return reject(problem.reason, line: problem.line) }
        guard let pmid = block.pmid, !block.passages.isEmpty else { return reject("no title or abstract line", line: first) }
        if block.passages.allSatisfy({ $0.text.isEmpty }) { return reject("empty text", line: first) }
        var passages = block.passages
        let ends = passages.map { $0.offset + $0.length }
        for annotation in block.annotations where annotation.start < annotation.end {
            guard let index = passages.indices.first(where: { passages[$0].offset <= annotation.start && annotation.end <= ends[$0] }) else { continue }
            let start = annotation.start - passages[index].offset, end = annotation.end - passages[index].offset
            passages[index].entities.append(Entity(type: annotation.type, start: start, end: end, text: passages[index].text.scalarSlice(start..<end),
                                                   concepts: annotation.ids.map { ConceptReference(id: $0, name: "") }))
        }
        return .document(Document(id: pmid, passages: passages, relations: block.relations))
    }
}

/// Writes PubTator blocks: one `id|key|text` line per passage (key `t` for a title, `a` for an
/// abstract, else the passage's type; an untyped passage is `t` when it is the first of several,
/// `a` otherwise), then `id<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>concept ids]` per entity
/// sorted by start (a linked entity's ids joined by `|`, as NCBI-disease writes composite mentions),
/// then `id<TAB>type<TAB>concept…` per relation, then a blank line. Offsets are Unicode scalars counted as PubTator readers do (each passage
/// after the previous one plus one separator), which equal the passages' own offsets for title +
/// abstract. Line breaks and tabs inside text, mentions and types are written as spaces (one
/// scalar for one, offsets stay valid); `|`, tabs and line breaks in ids become `_`.
struct PubTatorWriter: DocumentWriter {
    let output: OutputSink

    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError) {
        let id = document.id.replacingScalars(["|", "\t", "\n", "\r"], with: "_")
        var block = ""
        var lines: [(start: Int, end: Int, line: String)] = []
        var base = 0
        for (index, passage) in document.passages.enumerated() {
            block += "\(id)|\(Self.key(of: passage, index: index, count: document.passages.count))|\(Self.flat(passage.text))\n"
            for entity in passage.entities {
                let start = base + entity.start, end = base + entity.end
                let concept = entity.concepts.isEmpty ? "" : "\t" + entity.concepts.map { Self.flat($0.id).replacingScalars(["|"], with: "_") }.joined(separator: "|")
                lines.append((start, end, "\(id)\t\(start)\t\(end)\t\(Self.flat(entity.text))\t\(Self.flat(entity.type))\(concept)\n"))
            }
            base += passage.length + 1
        }
        if document.passages.isEmpty { block += "\(id)|t|\n\(id)|a|\n" }
        block += lines.sorted { ($0.start, $0.end) < ($1.start, $1.end) }.map(\.line).joined()
        for relation in document.relations {
            block += ([id, Self.flat(relation.type)] + relation.arguments.map { Self.flat($0.concept).replacingScalars(["|"], with: "_") }).joined(separator: "\t") + "\n"
        }
        try output.write(block + "\n")
    }

    mutating func abandon() { output.abandon() }

    mutating func finish() throws(FormatError) { try output.finish() }

    private static func key(of passage: Passage, index: Int, count: Int) -> String {
        switch passage.infons["type"] ?? passage.infons["field"] {
        case "title": "t"
        case "abstract": "a"
        case nil, "text"?, ""?: index == 0 && count > 1 ? "t" : "a"
        case let other?: other.replacingScalars(["|", "\t", "\n", "\r"], with: "_")
        }
    }

    private static func flat(_ text: String) -> String { text.replacingScalars(["\t", "\n", "\r"], with: " ") }
}
