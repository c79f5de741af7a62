import Foundation

/// One concept of an ontology or vocabulary: its id, preferred name, synonyms, and the other ids
/// it is known by (MEDIC's `AltDiseaseIDs`, OBO `alt_id`s), all of which a gold standard may use.
public struct Concept: Sendable, Equatable {
    public let id: String
    public let name: String
    public let synonyms: [String]
    /// Other ids of the same concept (the dictionary's 4th column where it holds ids).
    public let alternateIds: [String]
    /// The 4th column as written (ids, an NCBI rank, a species), `|`-separated.
    public let extras: [String]

    public init(id: String, name: String, synonyms: [String], alternateIds: [String], extras: [String] = []) {
        self.id = id
        self.name = name
        self.synonyms = synonyms
        self.alternateIds = alternateIds
        self.extras = extras
    }

    /// Every id the concept answers to.
    public var ids: [String] { [id] + alternateIds }
}

/// Why a dictionary file cannot be used: the file, the line, what was wrong.
public struct DictionaryError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let reason: String

    public init(file: String, line: Int?, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String { line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)" }
}

/// A concept dictionary in the layout of `../shared/data/normalization/dictionaries/`: one concept
/// per line, `id<TAB>name<TAB>synonym|synonym…<TAB>extra|extra…`, ids unique. Unless told
/// otherwise, the 4th column's entries that look like ids (`PREFIX:local`) are kept as alternate
/// ids; other extras (an NCBI rank) are not.
public struct ConceptDictionary: Sendable {
    public let concepts: [Concept]
    /// Where it was read from, for messages.
    public let source: String
    /// How often training corpora used each normalized term (`TermNormalizer.key`) for each
    /// concept (by index): when a term names several concepts ("human": the genus *Homo* and
    /// *Homo sapiens*), the one the corpora used most comes first.
    public let usage: [String: [Int: Int]]

    public init(concepts: [Concept], source: String = "dictionary", usage: [String: [Int: Int]] = [:]) {
        self.concepts = concepts
        self.source = source
        self.usage = usage
    }

    /// - Parameter extrasAreIds: whether the 4th column's ids name the same concept (MEDIC's
    ///   `AltDiseaseIDs`, OBO `alt_id`s, HGNC's cross-references) or something else (the headings a
    ///   MeSH supplementary chemical is mapped to, a cell line's species), which must not count.
    public static func load(path: String, extrasAreIds: Bool = true) throws(DictionaryError) -> ConceptDictionary {
        guard let data = FileManager.default.contents(atPath: path) else { throw DictionaryError(file: path, line: nil, reason: "cannot read the file") }
        guard let text = String(validating: data, as: UTF8.self) else { throw DictionaryError(file: path, line: nil, reason: "not valid UTF-8") }
        return try parse(text, file: path, extrasAreIds: extrasAreIds)
    }

    public static func parse(_ text: String, file: String, extrasAreIds: Bool = true) throws(DictionaryError) -> ConceptDictionary {
        var concepts: [Concept] = []
        var seen: [String: Int] = [:]
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard columns.count == 4 else {
                throw DictionaryError(file: file, line: number, reason: "expected 4 tab-separated columns (id, name, synonyms, extras), found \(columns.count)")
            }
            let id = columns[0].trimmingCharacters(in: .whitespaces), name = columns[1].trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty, !id.contains(" ") else { throw DictionaryError(file: file, line: number, reason: "empty or malformed id '\(columns[0])'") }
            guard !name.isEmpty else { throw DictionaryError(file: file, line: number, reason: "concept \(id) has no name") }
            if let first = seen[id] { throw DictionaryError(file: file, line: number, reason: "concept \(id) is defined twice (first on line \(first))") }
            seen[id] = number
            let synonyms = columns[2].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let alternates = extrasAreIds ? columns[3].split(separator: "|").map(String.init).filter(Self.looksLikeId) : []
            concepts.append(Concept(id: id, name: name, synonyms: synonyms, alternateIds: alternates, extras: columns[3].split(separator: "|").map(String.init)))
        }
        guard !concepts.isEmpty else { throw DictionaryError(file: file, line: nil, reason: "no concepts") }
        return ConceptDictionary(concepts: concepts, source: file)
    }

    /// `PREFIX:local`, the prefix letters (and digits, `_`), the local part without spaces.
    static func looksLikeId(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else { return false }
        return text[..<colon].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !text.contains(" ")
    }
}

extension ConceptDictionary {
    /// Several dictionaries as one (the `cell` head links to cell types and cell lines); an id
    /// may appear in only one of them.
    public static func merged(_ dictionaries: [ConceptDictionary]) throws(DictionaryError) -> ConceptDictionary {
        guard dictionaries.count != 1 else { return dictionaries[0] }
        var seen: [String: String] = [:]
        for dictionary in dictionaries {
            for concept in dictionary.concepts {
                if let other = seen[concept.id] {
                    throw DictionaryError(file: dictionary.source, line: nil, reason: "concept \(concept.id) is also defined in \(other)")
                }
                seen[concept.id] = dictionary.source
            }
        }
        return ConceptDictionary(concepts: dictionaries.flatMap(\.concepts), source: dictionaries.map(\.source).joined(separator: "+"))
    }

    /// The dictionary with the gold mentions of training corpora added as synonyms of their
    /// concept (a mention with one id, found among the concepts' ids and alternate ids): the way
    /// corpus-trained linkers learn a corpus's own usage ("DMD", "copper toxicosis"), and
    /// counted in `usage`. Evaluate only on other splits.
    public func addingSynonyms(from corpora: [LinkingCorpus]) -> ConceptDictionary {
        var index: [String: Int] = [:]
        for (position, concept) in concepts.enumerated() {
            for id in concept.ids where index[id] == nil { index[id] = position }
        }
        var added = [[String]](repeating: [], count: concepts.count)
        var usage = self.usage
        for corpus in corpora {
            for mention in corpus.mentions where mention.ids.count == 1 {
                guard let position = index[mention.ids[0]] else { continue }
                added[position].append(mention.text)
                usage[TermNormalizer.key(mention.text), default: [:]][position, default: 0] += 1
            }
        }
        let merged = zip(concepts, added).map { concept, extra -> Concept in
            var known = Set([concept.name] + concept.synonyms)
            let new = extra.filter { known.insert($0).inserted }
            return Concept(id: concept.id, name: concept.name, synonyms: concept.synonyms + new, alternateIds: concept.alternateIds, extras: concept.extras)
        }
        return ConceptDictionary(concepts: merged, source: source, usage: usage)
    }
}
