import Foundation

/// A WordPiece vocabulary: token string ⇄ id.
public struct Vocabulary: Sendable {
    public let tokens: [String]
    let ids: [String: Int32]
    /// Length in Unicode scalars of the longest entry (bounds the WordPiece search).
    let longestToken: Int

    public init(tokens: [String]) throws(TokenizerError) {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        var longest = 0
        for (index, token) in tokens.enumerated() where ids[token] == nil {
            ids[token] = Int32(index)
            longest = max(longest, token.unicodeScalars.count)
        }
        self.tokens = tokens
        self.ids = ids
        self.longestToken = longest
    }

    public init(idsByToken: [String: Int]) throws(TokenizerError) {
        guard let maxId = idsByToken.values.max() else { throw .invalidVocabulary("the vocabulary is empty") }
        guard maxId < Int(Int32.max), idsByToken.values.allSatisfy({ $0 >= 0 }) else {
            throw .invalidVocabulary("ids must lie in 0..<2^31")
        }
        var tokens = [String](repeating: "", count: maxId + 1)
        var seen = [Bool](repeating: false, count: maxId + 1)
        for (token, id) in idsByToken {
            if seen[id] { throw .invalidVocabulary("id \(id) is used twice") }
            seen[id] = true
            tokens[id] = token
        }
        if let gap = seen.firstIndex(of: false) { throw .invalidVocabulary("id \(gap) has no token") }
        try self.init(tokens: tokens)
    }

    /// Reads a `vocab.txt`: one token per line, the line number is the id.
    public init(contentsOf path: String) throws(TokenizerError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw .invalidVocabulary("\(path) is empty") }
        try self.init(tokens: lines)
    }

    public var count: Int { tokens.count }

    public func id(_ token: String) -> Int32? { ids[token] }
}

/// Why a tokenizer could not be built or run.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case invalidVocabulary(String)
    case invalidTokenizerJSON(path: String, reason: String)
    case missingToken(String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .invalidVocabulary(reason): "invalid vocabulary: \(reason)"
        case let .invalidTokenizerJSON(path, reason): "\(path): unsupported or invalid tokenizer.json: \(reason)"
        case let .missingToken(token): "the vocabulary has no '\(token)' token"
        }
    }
}
