/// The tokenizer's output for one sequence: what the encoder reads and what maps its outputs
/// back to the text.
public struct Encoding: Sendable, Equatable {
    /// Vocabulary ids, `[CLS] ... [SEP]` included.
    public var ids: [Int32]
    /// The vocabulary strings of `ids`.
    public var tokens: [String]
    /// `[start, end)` of each token as Unicode scalar indices into the original text;
    /// `[CLS]`/`[SEP]` added by the template are `0..<0`.
    public var offsets: [Range<Int>]
    /// Index of the pre-tokenized word each token belongs to; nil for template special tokens.
    public var wordIds: [Int?]
    /// True for the `[CLS]`/`[SEP]` that the template adds.
    public var specialTokensMask: [Bool]
    /// Segment ids (all 0 for single sequences).
    public var typeIds: [Int32]

    public init(ids: [Int32] = [], tokens: [String] = [], offsets: [Range<Int>] = [], wordIds: [Int?] = [], specialTokensMask: [Bool] = [], typeIds: [Int32] = []) {
        self.ids = ids; self.tokens = tokens; self.offsets = offsets
        self.wordIds = wordIds; self.specialTokensMask = specialTokensMask; self.typeIds = typeIds
    }

    public var count: Int { ids.count }

    mutating func append(id: Int32, token: String, offset: Range<Int>, wordId: Int?, special: Bool) {
        ids.append(id); tokens.append(token); offsets.append(offset)
        wordIds.append(wordId); specialTokensMask.append(special); typeIds.append(0)
    }
}
