import Foundation
import Tokenization

/// A sentence of an IOB corpus: its words, one label per word, and where it starts in its file.
public struct LabelledSentence: Sendable, Equatable {
    public var words: [String]
    public var labels: [String]
    /// 1-based line of the sentence's first word.
    public var line: Int

    public init(words: [String], labels: [String], line: Int) {
        self.words = words; self.labels = labels; self.line = line
    }
}

/// Why a corpus file could not be read: the file, the line, and what was wrong.
public struct CorpusError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let reason: String

    public init(file: String, line: Int? = nil, reason: String) {
        self.file = file; self.line = line; self.reason = reason
    }

    public var description: String { line.map { "\(file):\($0): \(reason)" } ?? "\(file): \(reason)" }
}

/// Reads token-per-line IOB files: `token<TAB>label` (or CoNLL-style columns, the label in the
/// last one, separated by tabs or spaces), a blank line between sentences, `-DOCSTART-` lines
/// skipped. Labels must be `O`, `B-<type>` or `I-<type>`.
public enum IOBReader {
    public static func read(path: String) throws(CorpusError) -> [LabelledSentence] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CorpusError(file: path, reason: "cannot read the file") }
        guard let text = String(bytes: data, encoding: .utf8) else { throw CorpusError(file: path, reason: "not valid UTF-8") }
        return try parse(text, file: path)
    }

    /// Each sentence's words joined by single spaces: the text a user would give.
    public static func sentenceTexts(path: String) throws(CorpusError) -> [String] {
        try read(path: path).map { $0.words.joined(separator: " ") }
    }

    public static func parse(_ text: String, file: String) throws(CorpusError) -> [LabelledSentence] {
        var sentences: [LabelledSentence] = []
        var current = LabelledSentence(words: [], labels: [], line: 0)
        var lineNumber = 0
        func finish() {
            if !current.words.isEmpty { sentences.append(current) }
            current = LabelledSentence(words: [], labels: [], line: 0)
        }
        // "\r\n" is one Character in Swift, so both line ends are split on explicitly.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { finish(); continue }
            if line.hasPrefix("-DOCSTART-") { finish(); continue }
            let columns = line.contains("\t")
                ? line.split(separator: "\t", omittingEmptySubsequences: false)
                : line.split(whereSeparator: { $0 == " " })
            guard columns.count >= 2, let word = columns.first, !word.isEmpty, let label = columns.last?.trimmingCharacters(in: .whitespaces), !label.isEmpty else {
                throw CorpusError(file: file, line: lineNumber, reason: "expected a token and a label separated by a tab, found '\(line.prefix(80))'")
            }
            guard label == "O" || ((label.hasPrefix("B-") || label.hasPrefix("I-")) && label.count > 2) else {
                throw CorpusError(file: file, line: lineNumber, reason: "label '\(label)' is not O, B-<type> or I-<type>")
            }
            if current.words.isEmpty { current.line = lineNumber }
            current.words.append(String(word))
            current.labels.append(label)
        }
        finish()
        return sentences
    }
}

/// One model input cut from a sentence: at most `maxLength` wordpieces with `[CLS]` and `[SEP]`.
public struct EncodedWindow: Sendable {
    /// The sentence it belongs to (index into the corpus's sentence list).
    public let sentence: Int
    /// The words it covers.
    public let words: Range<Int>
    public let ids: [Int32]
    /// Per word of `words`: the position of its first wordpiece in `ids`, nil when the
    /// tokenizer produced no wordpiece for it (the word is then predicted `O`).
    public let firstPiece: [Int?]

    public var count: Int { ids.count }
}

/// Sentences turned into windows of wordpieces, with the word-to-wordpiece alignment used for
/// labels: the first wordpiece of a word carries its label; the others, `[CLS]` and `[SEP]`
/// are ignored (-100). A sentence longer than the model's limit is cut at word boundaries
/// into several windows, never dropped; a single word longer than the limit keeps only its
/// first wordpieces.
public struct EncodedCorpus: Sendable {
    public let sentences: [LabelledSentence]
    public let windows: [EncodedWindow]

    public init(sentences: [LabelledSentence], tokenizer: WordPieceTokenizer, maxLength: Int) {
        self.sentences = sentences
        let capacity = max(1, maxLength - 2)
        var windows: [EncodedWindow] = []
        for (index, sentence) in sentences.enumerated() {
            let pieces = sentence.words.map { tokenizer.encode($0, addSpecialTokens: false).ids }
            var start = 0
            while start < pieces.count {
                var end = start, used = 0
                while end < pieces.count, used + min(pieces[end].count, capacity) <= capacity || end == start {
                    used += min(pieces[end].count, capacity)
                    end += 1
                }
                var ids: [Int32] = [tokenizer.clsId]
                var first: [Int?] = []
                for word in start..<end {
                    let wordPieces = pieces[word].prefix(capacity)
                    first.append(wordPieces.isEmpty ? nil : ids.count)
                    ids += wordPieces
                }
                ids.append(tokenizer.sepId)
                windows.append(EncodedWindow(sentence: index, words: start..<end, ids: ids, firstPiece: first))
                start = end
            }
        }
        self.windows = windows
    }

    /// Per-wordpiece training labels of a window (indices into `labels`, -100 where ignored).
    /// - Parameter map: label string → index; a label missing from it is an error.
    public func labelIds(of window: EncodedWindow, map: [String: Int32]) throws(CorpusError) -> [Int32] {
        var result = [Int32](repeating: -100, count: window.count)
        let sentence = sentences[window.sentence]
        for (offset, position) in window.firstPiece.enumerated() {
            guard let position else { continue }
            let label = sentence.labels[window.words.lowerBound + offset]
            guard let id = map[label] else {
                throw CorpusError(file: "sentence at line \(sentence.line)", reason: "label '\(label)' is not one of the head's labels \(map.keys.sorted())")
            }
            result[position] = id
        }
        return result
    }
}

/// A head's label list for a corpus: `O` first, then `B-`/`I-` of each type, sorted.
public func labelSet(of sentences: [LabelledSentence]) -> [String] {
    var types = Set<String>()
    for sentence in sentences { for label in sentence.labels where label != "O" { types.insert(String(label.dropFirst(2))) } }
    return ["O"] + types.sorted().flatMap { ["B-\($0)", "I-\($0)"] }
}
