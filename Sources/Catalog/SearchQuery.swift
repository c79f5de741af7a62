import Foundation

/// A parsed search: entity terms (`disease:"breast cancer"`, `gene:BRCA*`), concept terms
/// (`disease:MESH:D001943`) and full-text terms (`fibrosis`, `"single cell"`), combined with AND
/// (also implicit), OR, NOT and parentheses.
///
/// Values are data, never query syntax: they reach SQLite as bound parameters, and full-text
/// values as quoted FTS5 phrases, so quotes, FTS operators, `%` and `_` mean themselves.
public indirect enum SearchQuery: Equatable, Sendable {
    /// Records with an entity of `type` whose normalized text equals `value` (or starts with it
    /// when `prefix`).
    case entity(type: String, value: String, prefix: Bool)
    /// Records with an entity of `type` linked to the concept `id` (compared without case).
    case concept(type: String, id: String)
    /// Records whose text contains the words of `value` as a phrase (the last word as a prefix
    /// when `prefix`).
    case text(String, prefix: Bool)
    /// Records with a relation of `type` (`CID`) whose arguments match: `relation:CID`,
    /// `relation:CID(chemical:cisplatin, disease:"kidney injury")`, `relation:CID(disease:MESH:D007674)`.
    case relation(type: String, arguments: [RelationTerm])
    case and(SearchQuery, SearchQuery)
    case or(SearchQuery, SearchQuery)
    case not(SearchQuery)

    /// The longest query accepted, in characters, and the deepest nesting.
    public static let maximumLength = 10_000
    public static let maximumDepth = 64

    /// Entity text as stored and matched: compatibility-normalized, lowercased, whitespace runs
    /// as one space.
    public static func normalize(_ text: String) -> String {
        text.precomposedStringWithCompatibilityMapping.lowercased()
            .split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    public static func parse(_ text: String) throws(SearchQueryError) -> SearchQuery {
        guard text.count <= maximumLength else { throw SearchQueryError(position: maximumLength, message: "the query is longer than \(maximumLength) characters") }
        var parser = Parser(tokens: try tokenize(text), end: text.count)
        guard !parser.tokens.isEmpty else { throw SearchQueryError(position: 0, message: "the query is empty") }
        let query = try parser.parseOr(depth: 0)
        if let extra = parser.peek { throw SearchQueryError(position: extra.position, message: "unexpected \(extra.kind)") }
        return query
    }

    /// The terms of a chain of one operator (`a OR b OR c` → [a, b, c]), however it nests.
    func operands(of keyword: String) -> [SearchQuery] {
        switch (self, keyword) {
        case let (.and(a, b), "AND"), let (.or(a, b), "OR"): a.operands(of: keyword) + b.operands(of: keyword)
        default: [self]
        }
    }

    /// How many terms the query holds.
    var termCount: Int {
        switch self {
        case .entity, .concept, .text, .relation: 1
        case let .and(a, b), let .or(a, b): a.termCount + b.termCount
        case let .not(a): a.termCount
        }
    }

    /// Entity and concept terms anywhere in the query (for reporting which entities matched).
    public var entityTerms: [SearchQuery] {
        switch self {
        case .entity, .concept: [self]
        case .text, .relation: []
        case let .and(a, b), let .or(a, b): a.entityTerms + b.entityTerms
        case let .not(a): a.entityTerms
        }
    }

    /// Whether an entity (its type, normalized text and concept ids) matches this entity or
    /// concept term.
    func matches(type: String, normalized: String, concepts: [String]) -> Bool {
        switch self {
        case let .entity(t, value, prefix): t == type && (prefix ? normalized.hasPrefix(value) : normalized == value)
        case let .concept(t, id): t == type && concepts.contains { $0.caseInsensitiveCompare(id) == .orderedSame }
        default: false
        }
    }

    /// The query with each exact entity term that `link` links to a concept widened to "this
    /// text or this concept": `disease:"breast carcinoma"` then also finds the records that say
    /// "breast cancer". `link(type, value)` gives the concept id, or nil.
    public func linked(by link: (String, String) -> String?) -> SearchQuery {
        switch self {
        case let .entity(type, value, false):
            guard let id = link(type, value) else { return self }
            return .or(self, .concept(type: type, id: id))
        case .entity, .concept, .text, .relation: return self
        case let .and(a, b): return .and(a.linked(by: link), b.linked(by: link))
        case let .or(a, b): return .or(a.linked(by: link), b.linked(by: link))
        case let .not(a): return .not(a.linked(by: link))
        }
    }

    /// `PREFIX:local` with a prefix of letters, digits and `_` that starts with a letter
    /// (`MESH:D001943`, `NCBITaxon:9606`, `GO:0005739`).
    static func isConceptId(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), let first = text.first, first.isLetter, text.index(after: colon) != text.endIndex else { return false }
        return text[..<colon].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !text.contains(where: \.isWhitespace)
    }
}

/// One argument of a relation term: its role and the concept that fills it, named by id
/// (`MESH:D002945`) or by text (a mention of it in the record, or its name; normalized).
public struct RelationTerm: Equatable, Sendable {
    public enum Value: Equatable, Sendable {
        case concept(String)
        case text(String)
    }

    public var role: String
    public var value: Value

    public init(role: String, value: Value) {
        self.role = role
        self.value = value
    }
}

public struct SearchQueryError: Error, CustomStringConvertible, Equatable {
    /// Character position in the query.
    public let position: Int
    public let message: String
    public var description: String { "search query, at character \(position + 1): \(message)" }
}

private struct Token {
    enum Kind: CustomStringConvertible, Equatable {
        case word(String), phrase(String), field(String), open, close, and, or, not
        var description: String {
            switch self {
            case let .word(w): "'\(w)'"
            case let .phrase(p): "\"\(p)\""
            case let .field(f): "'\(f):'"
            case .open: "'('"
            case .close: "')'"
            case .and: "AND"
            case .or: "OR"
            case .not: "NOT"
            }
        }
    }
    let kind: Kind
    let position: Int
}

private func tokenize(_ text: String) throws(SearchQueryError) -> [Token] {
    let characters = Array(text)
    var tokens: [Token] = []
    var i = 0
    while i < characters.count {
        let c = characters[i]
        if c.isWhitespace { i += 1; continue }
        if c == "(" { tokens.append(Token(kind: .open, position: i)); i += 1; continue }
        if c == ")" { tokens.append(Token(kind: .close, position: i)); i += 1; continue }
        if c == "\"" {
            var j = i + 1, value = ""
            while j < characters.count, characters[j] != "\"" {
                if characters[j] == "\\", j + 1 < characters.count { j += 1 }  // \" inside a phrase
                value.append(characters[j])
                j += 1
            }
            guard j < characters.count else { throw SearchQueryError(position: i, message: "the quote opened here is never closed") }
            tokens.append(Token(kind: .phrase(value), position: i))
            i = j + 1
            continue
        }
        var j = i, word = ""
        // A field's value may hold colons itself (`disease:MESH:D001943`).
        var isValue = false
        if case .field = tokens.last?.kind { isValue = true }
        while j < characters.count, !characters[j].isWhitespace, characters[j] != "(", characters[j] != ")", characters[j] != "\"" {
            if characters[j] == ":", !isValue, !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) { break }
            word.append(characters[j])
            j += 1
        }
        if j < characters.count, characters[j] == ":" {
            tokens.append(Token(kind: .field(word.lowercased()), position: i))
            i = j + 1
            continue
        }
        switch word {
        case "AND": tokens.append(Token(kind: .and, position: i))
        case "OR": tokens.append(Token(kind: .or, position: i))
        case "NOT": tokens.append(Token(kind: .not, position: i))
        default: tokens.append(Token(kind: .word(word), position: i))
        }
        i = j
    }
    return tokens
}

private struct Parser {
    let tokens: [Token]
    /// The query's length: where "the query ends" errors point.
    let end: Int
    var index = 0

    var peek: Token? { index < tokens.count ? tokens[index] : nil }

    mutating func parseOr(depth: Int) throws(SearchQueryError) -> SearchQuery {
        var left = try parseAnd(depth: depth)
        while peek?.kind == .or {
            index += 1
            left = .or(left, try parseAnd(depth: depth))
        }
        return left
    }

    mutating func parseAnd(depth: Int) throws(SearchQueryError) -> SearchQuery {
        var left = try parseUnary(depth: depth)
        while let next = peek, next.kind != .or, next.kind != .close {
            if next.kind == .and { index += 1 }
            left = .and(left, try parseUnary(depth: depth))
        }
        return left
    }

    mutating func parseUnary(depth: Int) throws(SearchQueryError) -> SearchQuery {
        guard depth < SearchQuery.maximumDepth else {
            throw SearchQueryError(position: peek?.position ?? 0, message: "nesting deeper than \(SearchQuery.maximumDepth) levels")
        }
        guard let token = peek else {
            throw SearchQueryError(position: end, message: "the query ends where a term was expected")
        }
        index += 1
        switch token.kind {
        case .not:
            return .not(try parseUnary(depth: depth + 1))
        case .open:
            let inner = try parseOr(depth: depth + 1)
            guard peek?.kind == .close else { throw SearchQueryError(position: token.position, message: "the parenthesis opened here is never closed") }
            index += 1
            return inner
        case let .field(name):
            guard let value = peek else { throw SearchQueryError(position: token.position, message: "'\(name):' needs a value") }
            index += 1
            let text: String
            switch value.kind {
            case let .word(w): text = w
            case let .phrase(p): text = p
            default: throw SearchQueryError(position: value.position, message: "'\(name):' needs a word or a quoted phrase, not \(value.kind)")
            }
            if name == "relation" { return try relation(type: text, at: value.position) }
            let prefix = text.hasSuffix("*") && text.count > 1
            let core = prefix ? String(text.dropLast()) : text
            guard !SearchQuery.normalize(core).isEmpty else { throw SearchQueryError(position: value.position, message: "'\(name):' has an empty value") }
            if name == "text" { return .text(core, prefix: prefix) }
            if !prefix, SearchQuery.isConceptId(core) { return .concept(type: name, id: core) }
            return .entity(type: name, value: SearchQuery.normalize(core), prefix: prefix)
        case let .word(w):
            let prefix = w.hasSuffix("*") && w.count > 1
            return .text(prefix ? String(w.dropLast()) : w, prefix: prefix)
        case let .phrase(p):
            guard !SearchQuery.normalize(p).isEmpty else { throw SearchQueryError(position: token.position, message: "an empty phrase") }
            return .text(p, prefix: false)
        case .close, .and, .or:
            throw SearchQueryError(position: token.position, message: "unexpected \(token.kind)")
        }
    }

    /// `relation:TYPE`, then optionally `(role:value, role:value)`: the arguments, each a word
    /// (a concept id when it looks like one) or a quoted phrase, separated by commas or spaces.
    mutating func relation(type: String, at position: Int) throws(SearchQueryError) -> SearchQuery {
        guard !type.isEmpty, type.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw SearchQueryError(position: position, message: "'relation:' needs a relation type such as CID, not '\(type)'")
        }
        guard let open = peek, open.kind == .open else { return .relation(type: type, arguments: []) }
        index += 1
        var arguments: [RelationTerm] = []
        while true {
            guard let token = peek else { throw SearchQueryError(position: open.position, message: "the parenthesis opened here is never closed") }
            index += 1
            switch token.kind {
            case .close:
                return .relation(type: type, arguments: arguments)
            case .word(","):
                continue
            case let .field(role):
                guard let value = peek else { throw SearchQueryError(position: token.position, message: "'\(role):' needs a value") }
                index += 1
                let text: String
                switch value.kind {
                case let .word(w):
                    // A trailing comma separates arguments; one inside the word means a missing space.
                    text = String(w.reversed().drop { $0 == "," }.reversed())
                    if text.contains(",") {
                        throw SearchQueryError(position: value.position, message: "put a space after the comma between a relation's arguments ('\(w)')")
                    }
                case let .phrase(p): text = p
                default: throw SearchQueryError(position: value.position, message: "'\(role):' needs a word or a quoted phrase, not \(value.kind)")
                }
                guard !SearchQuery.normalize(text).isEmpty else { throw SearchQueryError(position: value.position, message: "'\(role):' has an empty value") }
                arguments.append(RelationTerm(role: role, value: SearchQuery.isConceptId(text) ? .concept(text) : .text(SearchQuery.normalize(text))))
            default:
                throw SearchQueryError(position: token.position, message: "a relation's arguments are role:value (e.g. chemical:cisplatin), not \(token.kind)")
            }
        }
    }
}
