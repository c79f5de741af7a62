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
}

/// A PubTator corpus with concept ids (`PMID|t|`, `PMID|a|`, mention lines), as the
/// normalization corpora of `../shared/data/normalization/corpora/` give them.
public struct LinkingCorpus: Sendable {
    /// Each document's title and abstract joined by a space, as PubTator counts offsets.
    public let texts: [String: String]
    public let mentions: [GoldMention]

    public init(texts: [String: String], mentions: [GoldMention]) {
        self.texts = texts
        self.mentions = mentions
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
        for id in order { texts[id] = (titles[id] ?? "") + " " + (abstracts[id] ?? "") }
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

/// Gold-span accuracy: the share of gold mentions (those with an id) whose gold ids include an id
/// of the linker's first candidate (accuracy@1) or of one of its first five (@5). A concept counts
/// under its own id and its alternate ids, as the gold may use either.
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
            let candidates = linker.link(mention.text, abbreviations: context, top: 5)
            let gold = Set(mention.ids)
            let hits = candidates.map { !gold.isDisjoint(with: linker.dictionary.concepts[$0.concept].ids) }
            if hits.first == true { one += 1 }
            if hits.contains(true) { five += 1 }
        }
        let total = Double(max(counted, 1))
        return LinkingAccuracy(mentions: counted, atOne: Double(one) / total, atFive: Double(five) / total)
    }
}
