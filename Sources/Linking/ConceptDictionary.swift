import Foundation

/// One concept of an ontology or vocabulary: its id, preferred name, synonyms, and the other ids
/// it is known by (MEDIC's `AltDiseaseIDs`, OBO `alt_id`s), all of which a gold standard may use.
public struct Concept: Sendable, Equatable {
    public let id: String
    public let name: String
    public let synonyms: [String]
    /// Other ids of the same concept (the dictionary's 4th column where it holds ids).
    public let alternateIds: [String]

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
/// per line, `id<TAB>name<TAB>synonym|synonym…<TAB>extra|extra…`, ids unique. The 4th column's
/// entries that look like ids (`PREFIX:local`) are kept as alternate ids; other extras (an NCBI
/// rank, a species) are not.
public struct ConceptDictionary: Sendable {
    public let concepts: [Concept]
    /// Where it was read from, for messages.
    public let source: String

    public init(concepts: [Concept], source: String = "dictionary") {
        self.concepts = concepts
        self.source = source
    }

    public static func load(path: String) throws(DictionaryError) -> ConceptDictionary {
        guard let data = FileManager.default.contents(atPath: path) else { throw DictionaryError(file: path, line: nil, reason: "cannot read the file") }
        guard let text = String(validating: data, as: UTF8.self) else { throw DictionaryError(file: path, line: nil, reason: "not valid UTF-8") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(DictionaryError) -> ConceptDictionary {
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
            let alternates = columns[3].split(separator: "|").map(String.init).filter(Self.looksLikeId)
            concepts.append(Concept(id: id, name: name, synonyms: synonyms, alternateIds: alternates))
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
    /// The dictionary with the gold mentions of training corpora added as synonyms of their
    /// concept (a mention with one id, found among the concepts' ids and alternate ids): the way
    /// corpus-trained linkers learn a corpus's own usage ("DMD", "copper toxicosis"). Evaluate
    /// only on other splits.
    public func addingSynonyms(from corpora: [LinkingCorpus]) -> ConceptDictionary {
        var index: [String: Int] = [:]
        for (position, concept) in concepts.enumerated() {
            for id in concept.ids where index[id] == nil { index[id] = position }
        }
        var added = [[String]](repeating: [], count: concepts.count)
        for corpus in corpora {
            for mention in corpus.mentions where mention.ids.count == 1 {
                guard let position = index[mention.ids[0]] else { continue }
                added[position].append(mention.text)
            }
        }
        let merged = zip(concepts, added).map { concept, extra -> Concept in
            var known = Set([concept.name] + concept.synonyms)
            let new = extra.filter { known.insert($0).inserted }
            return Concept(id: concept.id, name: concept.name, synonyms: concept.synonyms + new, alternateIds: concept.alternateIds)
        }
        return ConceptDictionary(concepts: merged, source: source)
    }
}
