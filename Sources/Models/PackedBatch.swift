/// Several sequences concatenated without padding: the linear layers see only real tokens,
/// attention runs per sequence (CTranslate2's `Padder` idea, text-embeddings-inference's
/// cumulative lengths).
public struct PackedBatch: Sendable, Equatable {
    /// All token ids, sequence after sequence.
    public private(set) var ids: [Int32] = []
    /// Token type (segment) ids, same layout.
    public private(set) var typeIds: [Int32] = []
    /// `starts[s]..<starts[s + 1]` are the rows of sequence `s`; `starts.count == count + 1`.
    public private(set) var starts: [Int] = [0]

    public init() {}

    public init(_ sequences: [[Int32]]) {
        for sequence in sequences { append(sequence) }
    }

    public mutating func append(_ ids: [Int32], typeIds: [Int32]? = nil) {
        precondition(typeIds == nil || typeIds!.count == ids.count, "one type id per token")
        self.ids += ids
        self.typeIds += typeIds ?? [Int32](repeating: 0, count: ids.count)
        starts.append(self.ids.count)
    }

    public var count: Int { starts.count - 1 }
    public var tokenCount: Int { ids.count }
    public func rows(of sequence: Int) -> Range<Int> { starts[sequence]..<starts[sequence + 1] }
    public var longest: Int { (0..<count).map { rows(of: $0).count }.max() ?? 0 }

    /// Each token with its rows in the embedding tables: its packed row, word id, position in
    /// its own sequence, and token type (the gather of the forward pass, the scatter of the
    /// backward pass).
    @inlinable
    public func forEachToken(_ body: (_ row: Int, _ word: Int, _ position: Int, _ type: Int) -> Void) {
        for sequence in 0..<count {
            let range = rows(of: sequence)
            for row in range { body(row, Int(ids[row]), row - range.lowerBound, Int(typeIds[row])) }
        }
    }

    /// Checks the batch against an encoder's vocabulary, token types and positions (inference and
    /// training run the same check).
    public func validate(for config: EncoderConfig) throws(EncoderInputError) {
        for s in 0..<count {
            let range = rows(of: s)
            if range.isEmpty { throw .emptySequence(sequence: s) }
            if range.count > config.maxPositions {
                throw .sequenceTooLong(sequence: s, length: range.count, maxPositions: config.maxPositions)
            }
            for row in range {
                let id = ids[row]
                if id < 0 || Int(id) >= config.vocabularySize {
                    throw .tokenIdOutOfRange(sequence: s, position: row - range.lowerBound, id: id, vocabularySize: config.vocabularySize)
                }
                let type = typeIds[row]
                let types = max(config.typeVocabularySize, 1)
                if type < 0 || Int(type) >= types {
                    throw .typeIdOutOfRange(sequence: s, position: row - range.lowerBound, id: type, typeVocabularySize: types)
                }
            }
        }
    }
}

/// Input the encoder refuses rather than mis-runs.
public enum EncoderInputError: Error, CustomStringConvertible, Equatable {
    case tokenIdOutOfRange(sequence: Int, position: Int, id: Int32, vocabularySize: Int)
    case typeIdOutOfRange(sequence: Int, position: Int, id: Int32, typeVocabularySize: Int)
    case sequenceTooLong(sequence: Int, length: Int, maxPositions: Int)
    case emptySequence(sequence: Int)

    public var description: String {
        switch self {
        case let .tokenIdOutOfRange(s, p, id, size): "sequence \(s), position \(p): token id \(id) is outside the vocabulary of \(size)"
        case let .typeIdOutOfRange(s, p, id, size): "sequence \(s), position \(p): token type \(id) is outside 0..<\(size)"
        case let .sequenceTooLong(s, length, max): "sequence \(s) has \(length) tokens, the model has \(max) positions (split it into windows)"
        case let .emptySequence(s): "sequence \(s) is empty"
        }
    }
}
