import Foundation

/// BERT's WordPiece tokenizer, matching Hugging Face's `BertTokenizerFast` in ids and offsets:
/// special tokens written literally in the text are matched first (exact case), the rest is
/// normalized (`BertNormalizer`), split on whitespace and punctuation, and each word is cut into
/// the longest vocabulary pieces (`##` continuations), or `[UNK]` when it cannot be covered or is
/// longer than `maxInputCharsPerWord` scalars.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let normalizer: BertNormalizer
    public let continuingSubwordPrefix: String
    public let maxInputCharsPerWord: Int
    public let unknownToken: String
    public let unknownId: Int32
    public let clsId: Int32
    public let sepId: Int32
    public let padId: Int32
    /// Special tokens matched literally in the input, longest first.
    public let specialTokens: [String]

    private let initialPieces: WordPieceTrie
    private let continuationPieces: WordPieceTrie
    private let specialScalars: [(scalars: [Unicode.Scalar], id: Int32)]

    public init(
        vocabulary: Vocabulary, normalizer: BertNormalizer = BertNormalizer(),
        continuingSubwordPrefix: String = "##", maxInputCharsPerWord: Int = 100,
        unknownToken: String = "[UNK]", clsToken: String = "[CLS]", sepToken: String = "[SEP]", padToken: String = "[PAD]",
        specialTokens: [String]? = nil
    ) throws(TokenizerError) {
        self.vocabulary = vocabulary
        self.normalizer = normalizer
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.unknownToken = unknownToken
        guard let unknownId = vocabulary.id(unknownToken) else { throw .missingToken(unknownToken) }
        guard let clsId = vocabulary.id(clsToken) else { throw .missingToken(clsToken) }
        guard let sepId = vocabulary.id(sepToken) else { throw .missingToken(sepToken) }
        self.unknownId = unknownId
        self.clsId = clsId
        self.sepId = sepId
        self.padId = vocabulary.id(padToken) ?? 0
        let specials = (specialTokens ?? [padToken, unknownToken, clsToken, sepToken, "[MASK]"])
            .filter { vocabulary.id($0) != nil && !$0.isEmpty }
        self.specialTokens = specials.sorted { $0.unicodeScalars.count > $1.unicodeScalars.count }
        self.specialScalars = self.specialTokens.map { (Array($0.unicodeScalars), vocabulary.id($0)!) }

        var initial = WordPieceTrie()
        var continuation = WordPieceTrie()
        let prefix = Array(continuingSubwordPrefix.unicodeScalars)
        for (index, token) in vocabulary.tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            if vocabulary.id(token) != Int32(index) { continue }
            initial.insert(scalars, id: Int32(index))
            if !prefix.isEmpty, scalars.count > prefix.count, scalars.starts(with: prefix) {
                continuation.insert(scalars[prefix.count...], id: Int32(index))
            }
        }
        self.initialPieces = initial
        self.continuationPieces = continuation
    }

    /// Tokenizes `text` as one sequence: `[CLS] pieces [SEP]`, no truncation.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        let scalars = Array(text.unicodeScalars)
        var encoding = Encoding()
        encoding.ids.reserveCapacity(scalars.count / 3 + 2)
        if addSpecialTokens { encoding.append(id: clsId, token: vocabulary.tokens[Int(clsId)], offset: 0..<0, wordId: nil, special: true) }
        var wordCounter = 0
        var segmentStart = 0
        var index = 0
        var normalized: [UInt32] = []
        var alignment: [Int32] = []
        normalized.reserveCapacity(scalars.count + 8)
        alignment.reserveCapacity(scalars.count + 8)
        while index <= scalars.count {
            var matched: (length: Int, id: Int32)?
            if index < scalars.count {
                for special in specialScalars where special.scalars.first == scalars[index] && scalars.count - index >= special.scalars.count {
                    if scalars[index..<(index + special.scalars.count)].elementsEqual(special.scalars) {
                        matched = (special.scalars.count, special.id)
                        break
                    }
                }
            }
            if matched == nil && index < scalars.count { index += 1; continue }
            // Tokenize the plain segment before the special token (or the end of the text).
            normalized.removeAll(keepingCapacity: true)
            alignment.removeAll(keepingCapacity: true)
            normalizer.normalize(scalars, range: segmentStart..<index, output: &normalized, alignment: &alignment)
            tokenizeNormalized(normalized, alignment: alignment, wordCounter: &wordCounter, into: &encoding)
            guard let matched else { break }
            encoding.append(id: matched.id, token: vocabulary.tokens[Int(matched.id)], offset: index..<(index + matched.length), wordId: wordCounter, special: false)
            wordCounter += 1
            index += matched.length
            segmentStart = index
        }
        if addSpecialTokens { encoding.append(id: sepId, token: vocabulary.tokens[Int(sepId)], offset: 0..<0, wordId: nil, special: true) }
        return encoding
    }

    /// Splits normalized text into words (whitespace separates, punctuation stands alone) and
    /// each word into WordPiece tokens.
    private func tokenizeNormalized(_ text: [UInt32], alignment: [Int32], wordCounter: inout Int, into encoding: inout Encoding) {
        text.withUnsafeBufferPointer { buffer in
            var index = 0
            let count = buffer.count
            while index < count {
                let kind = Self.preTokenizerClass(buffer[index])
                if kind == .whitespace { index += 1; continue }
                var end = index + 1
                if kind == .word {
                    while end < count, Self.preTokenizerClass(buffer[end]) == .word { end += 1 }
                }
                wordPiece(buffer, word: index..<end, alignment: alignment, wordId: wordCounter, into: &encoding)
                wordCounter += 1
                index = end
            }
        }
    }

    private func wordPiece(_ text: UnsafeBufferPointer<UInt32>, word: Range<Int>, alignment: [Int32], wordId: Int, into encoding: inout Encoding) {
        // As `tokenizers` does: from the first scalar's start to the last one's end. Alignments
        // never decrease along the normalized text (`BertNormalizer`), so this is a range.
        func originalRange(_ range: Range<Int>) -> Range<Int> {
            Int(alignment[range.lowerBound])..<(Int(alignment[range.upperBound - 1]) + 1)
        }
        if word.count > maxInputCharsPerWord {
            encoding.append(id: unknownId, token: unknownToken, offset: originalRange(word), wordId: wordId, special: false)
            return
        }
        let mark = encoding.count
        var start = word.lowerBound
        while start < word.upperBound {
            let trie = start == word.lowerBound ? initialPieces : continuationPieces
            guard let match = trie.longestMatch(text, from: start, to: word.upperBound) else {
                // One uncoverable piece makes the whole word unknown.
                encoding.ids.removeSubrange(mark...); encoding.tokens.removeSubrange(mark...)
                encoding.offsets.removeSubrange(mark...); encoding.wordIds.removeSubrange(mark...)
                encoding.specialTokensMask.removeSubrange(mark...); encoding.typeIds.removeSubrange(mark...)
                encoding.append(id: unknownId, token: unknownToken, offset: originalRange(word), wordId: wordId, special: false)
                return
            }
            encoding.append(id: match.id, token: vocabulary.tokens[Int(match.id)], offset: originalRange(start..<match.end), wordId: wordId, special: false)
            start = match.end
        }
    }

    /// How `BertPreTokenizer` treats a normalized scalar.
    enum PreTokenizerClass { case word, whitespace, punctuation }

    /// Whitespace (Rust's `char::is_whitespace`) separates words and is dropped; ASCII punctuation
    /// and symbols (`!`–`/`, `:`–`@`, `[`–`` ` ``, `{`–`~`) and the P* categories of `tokenizers`'
    /// Unicode tables are words of their own.
    @inline(__always) static func preTokenizerClass(_ value: UInt32) -> PreTokenizerClass {
        if value < 0x80 {
            if value == 0x20 || (value >= 0x09 && value <= 0x0D) { return .whitespace }
            let punctuation = (value >= 0x21 && value <= 0x2F) || (value >= 0x3A && value <= 0x40)
                || (value >= 0x5B && value <= 0x60) || (value >= 0x7B && value <= 0x7E)
            return punctuation ? .punctuation : .word
        }
        let properties = BertScalarProperties(value)
        return properties.isWhitespace ? .whitespace : properties.isPunctuation ? .punctuation : .word
    }
}

extension WordPieceTokenizer {
    /// Cuts an encoding that is longer than `maxLength` into overlapping windows, each
    /// `[CLS] ≤ maxLength-2 pieces [SEP]`, consecutive windows sharing `stride` pieces (Hugging
    /// Face's `return_overflowing_tokens` with `stride`). A short encoding is returned as is.
    /// - Precondition: the encoding was made with special tokens; `0 ≤ stride < maxLength - 2`.
    public func windows(of encoding: Encoding, maxLength: Int, stride: Int) -> [Encoding] {
        if encoding.count <= maxLength { return [encoding] }
        return Self.windowRanges(contentCount: encoding.count - 2, maxLength: maxLength, stride: stride).map { range in
            var window = Encoding()
            window.append(id: clsId, token: vocabulary.tokens[Int(clsId)], offset: 0..<0, wordId: nil, special: true)
            for i in (range.lowerBound + 1)..<(range.upperBound + 1) {
                window.append(id: encoding.ids[i], token: encoding.tokens[i], offset: encoding.offsets[i], wordId: encoding.wordIds[i], special: encoding.specialTokensMask[i])
            }
            window.append(id: sepId, token: vocabulary.tokens[Int(sepId)], offset: 0..<0, wordId: nil, special: true)
            return window
        }
    }

    /// The pieces each window of `windows(of:maxLength:stride:)` takes, as ranges over the
    /// `contentCount` pieces between `[CLS]` and `[SEP]`: at most `maxLength - 2` each,
    /// consecutive ones sharing `stride`.
    /// - Precondition: `0 ≤ stride < maxLength - 2`.
    public static func windowRanges(contentCount: Int, maxLength: Int, stride: Int) -> [Range<Int>] {
        precondition(maxLength >= 3 && stride >= 0 && stride < maxLength - 2, "window length must exceed the stride")
        let width = maxLength - 2
        var result: [Range<Int>] = []
        var start = 0
        while true {
            let end = min(start + width, contentCount)
            result.append(start..<end)
            if end == contentCount { return result }
            start = end - stride
        }
    }

    /// The first `maxLength` tokens of an encoding, `[SEP]` kept at the end.
    public func truncate(_ encoding: Encoding, maxLength: Int) -> Encoding {
        windows(of: encoding, maxLength: maxLength, stride: 0)[0]
    }
}
