import Annotation
import Foundation

/// A gold mention of a PubTator corpus: its document, span, text, type and concept ids.
public struct GoldMention: Sendable, Equatable {
    public let document: String
    public let start: Int
    public let end: Int
    public let text: String
    public let type: String
    /// The gold ids, prefixed as the dictionaries write them (`D012345` → `MESH:D012345`); a
    /// composite mention has several.
    public let ids: [String]

    public init(document: String, start: Int, end: Int, text: String, type: String, ids: [String]) {
        self.document = document
        self.start = start
        self.end = end
        self.text = text
        self.type = type
        self.ids = ids
    }
}

/// A PubTator corpus with concept ids (`PMID|t|`, `PMID|a|`, mention lines), as the
/// normalization corpora of `../shared/data/normalization/corpora/` give them.
public struct LinkingCorpus: Sendable {
    /// Each document's title and abstract joined by a space, as PubTator counts offsets.
    public let texts: [String: String]
    public let mentions: [GoldMention]
    /// Each document's passages (PubTator: title, abstract), in file order, for annotating the
    /// raw text end to end.
    public let documents: [Document]

    public init(texts: [String: String], mentions: [GoldMention], documents: [Document]? = nil) {
        self.texts = texts
        self.mentions = mentions
        self.documents = documents ?? texts.keys.sorted().map { Document(id: $0, text: texts[$0]!) }
    }

    /// The corpus with only the mentions `keep` accepts.
    public func filter(_ keep: (GoldMention) -> Bool) -> LinkingCorpus {
        LinkingCorpus(texts: texts, mentions: mentions.filter(keep), documents: documents)
    }

    public static func load(path: String) throws(DictionaryError) -> LinkingCorpus {
        guard let data = FileManager.default.contents(atPath: path), let text = String(validating: data, as: UTF8.self) else {
            throw DictionaryError(file: path, line: nil, reason: "cannot read the file as UTF-8")
        }
        var titles: [String: String] = [:], abstracts: [String: String] = [:], order: [String] = []
        var mentions: [GoldMention] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if line.isEmpty { continue }
            let bar = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            if bar.count == 3, bar[1] == "t" || bar[1] == "a", !bar[0].contains("\t") {
                let id = String(bar[0])
                if titles[id] == nil, abstracts[id] == nil { order.append(id) }
                if bar[1] == "t" { titles[id] = String(bar[2]) } else { abstracts[id] = String(bar[2]) }
                continue
            }
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if columns.count >= 4, columns[1] == "CID" { continue }  // a relation line
            guard columns.count >= 6, let start = Int(columns[1]), let end = Int(columns[2]), start < end else {
                throw DictionaryError(file: path, line: number, reason: "expected PMID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>id")
            }
            let ids = columns[5].split(whereSeparator: { $0 == "|" || $0 == "+" || $0 == "," }).map { Self.prefixed(String($0)) }.filter { $0 != "-1" }
            mentions.append(GoldMention(document: columns[0], start: start, end: end, text: columns[3], type: columns[4], ids: ids))
        }
        var texts: [String: String] = [:]
        var documents: [Document] = []
        for id in order {
            let title = titles[id] ?? "", abstract = abstracts[id] ?? ""
            texts[id] = title + " " + abstract
            documents.append(Document(id: id, passages: [
                Passage(text: title, offset: 0, infons: ["type": "title"]),
                Passage(text: abstract, offset: title.unicodeScalars.count + 1, infons: ["type": "abstract"]),
            ]))
        }
        return LinkingCorpus(texts: texts, mentions: mentions, documents: documents)
    }

    /// A corpus named on the command line: a PubTator file, or a standoff table of
    /// `../shared/data/normalization/corpora/` with its split, `DIR/NAME.tsv:SPLIT`
    /// (`craft/CL.tsv:test`, `linnaeus/filtered_tags.tsv:devel`).
    public static func load(specification: String) throws(DictionaryError) -> LinkingCorpus {
        if let colon = specification.lastIndex(of: ":"), specification[..<colon].hasSuffix(".tsv") {
            return try loadStandoff(path: String(specification[..<colon]), split: String(specification[specification.index(after: colon)...]))
        }
        if specification.hasSuffix(".tsv") {
            throw DictionaryError(file: specification, line: nil, reason: "a standoff table needs its split: \(specification):train, :devel or :test")
        }
        return try load(path: specification)
    }

    /// A standoff table, `id document start end text` (LINNAEUS's `filtered_tags.tsv`) or
    /// `document start end text id` (CRAFT's `<ONTOLOGY>.tsv`), one header line; the texts are
    /// `DIR/txt/<document>.txt`, the split's documents `DIR/split/<split>.txt`. Offsets are
    /// Unicode scalar offsets into the texts; `species:ncbi:N` ids become `NCBITaxon:N`.
    public static func loadStandoff(path: String, split: String) throws(DictionaryError) -> LinkingCorpus {
        let directory = (path as NSString).deletingLastPathComponent
        let splitPath = (directory as NSString).appendingPathComponent("split/\(split).txt")
        guard let splitText = try? String(contentsOfFile: splitPath, encoding: .utf8) else {
            throw DictionaryError(file: splitPath, line: nil, reason: "cannot read the split '\(split)' (expected a list of documents)")
        }
        let documents = Set(splitText.split(whereSeparator: \.isNewline).map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        guard let data = FileManager.default.contents(atPath: path), let table = String(validating: data, as: UTF8.self) else {
            throw DictionaryError(file: path, line: nil, reason: "cannot read the file as UTF-8")
        }
        var texts: [String: String] = [:], mentions: [GoldMention] = []
        var idFirst: Bool?
        for (offset, raw) in table.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if idFirst == nil {  // the header says which layout
                idFirst = !columns[0].lowercased().contains("doc")
                continue
            }
            guard columns.count >= 5, let start = Int(columns[2 - (idFirst! ? 0 : 1)]), let end = Int(columns[3 - (idFirst! ? 0 : 1)]), start < end else {
                throw DictionaryError(file: path, line: number, reason: "expected id, document, start, end, text or document, start, end, text, id")
            }
            let (id, document, text) = idFirst! ? (columns[0], columns[1], columns[4]) : (columns[4], columns[0], columns[3])
            guard documents.contains(document) else { continue }
            if texts[document] == nil {
                let textPath = (directory as NSString).appendingPathComponent("txt/\(document).txt")
                guard let body = try? String(contentsOfFile: textPath, encoding: .utf8) else {
                    throw DictionaryError(file: textPath, line: nil, reason: "cannot read the text of document \(document)")
                }
                texts[document] = body
            }
            let ids = id.split(separator: "|").map { $0.hasPrefix("species:ncbi:") ? "NCBITaxon:" + $0.dropFirst(13) : String($0) }
            mentions.append(GoldMention(document: document, start: start, end: end, text: text, type: "", ids: ids))
        }
        return LinkingCorpus(texts: texts, mentions: mentions)
    }

    /// `D012345`/`C…` → `MESH:D012345`; ids with a prefix stay as they are.
    static func prefixed(_ id: String) -> String {
        let trimmed = id.trimmingCharacters(in: .whitespaces)
        if trimmed.contains(":") || trimmed == "-1" { return trimmed }
        if let first = trimmed.first, first == "D" || first == "C", trimmed.dropFirst().allSatisfy(\.isNumber) { return "MESH:" + trimmed }
        return trimmed
    }
}

/// Gold-span accuracy: the share of gold mentions (those with an id) that the linker gets right.
/// At 1: the first candidate of each concept the linker finds, taken together, are the gold
/// concepts (one each; a composite mention needs all its parts and no other). At 5: every gold id
/// is among the first five candidates of some part. A concept counts under its own id and its
/// alternate ids, as the gold may use either.
public struct LinkingAccuracy: Sendable, Codable, Equatable {
    public let mentions: Int
    public let atOne: Double
    public let atFive: Double

    public static func measure(_ linker: Linker, on corpus: LinkingCorpus) -> LinkingAccuracy {
        var abbreviations: [String: Abbreviations] = [:]
        var one = 0, five = 0, counted = 0
        for mention in corpus.mentions where !mention.ids.isEmpty {
            counted += 1
            let context = abbreviations[mention.document] ?? Abbreviations(text: corpus.texts[mention.document] ?? "")
            abbreviations[mention.document] = context
            let parts = linker.link(mention.text, abbreviations: context, top: 5)
            let gold = Set(mention.ids)
            func ids(_ candidate: LinkCandidate) -> Set<String> { Set(linker.index.ids(ofConcept: candidate.concept)) }
            let firsts = parts.compactMap(\.first).map(ids)
            // Each gold id names one found concept and each found concept one gold id.
            if firsts.count == gold.count, firsts.allSatisfy({ !$0.isDisjoint(with: gold) }),
               gold.allSatisfy({ id in firsts.contains { $0.contains(id) } }) { one += 1 }
            let found = parts.flatMap { $0.map(ids) }.reduce(into: Set<String>()) { $0.formUnion($1) }
            if gold.isSubset(of: found) { five += 1 }
        }
        let total = Double(max(counted, 1))
        return LinkingAccuracy(mentions: counted, atOne: Double(one) / total, atFive: Double(five) / total)
    }
}
