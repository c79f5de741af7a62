/// BERT's text normalization, reproducing Hugging Face `tokenizers`' `BertNormalizer` scalar for
/// scalar: clean text (drop NUL, U+FFFD and control/format/private-use characters; any whitespace
/// becomes a space), surround CJK ideographs with spaces, strip accents (NFD, then drop nonspacing
/// marks), lowercase — in that order, with `tokenizers`' own Unicode tables
/// (`BertScalarProperties`). Every output scalar remembers which input scalar it is aligned to,
/// by the rule of `NormalizedString::transform`, so offsets survive normalization.
public struct BertNormalizer: Sendable, Equatable {
    public var cleanText = true
    public var handleChineseChars = true
    public var stripAccents = true
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool = true, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// Appends the normalization of `scalars[range]` to `output`, with the index of the source
    /// scalar of each output scalar in `alignment`.
    func normalize(_ scalars: [Unicode.Scalar], range: Range<Int>, output: inout [UInt32], alignment: inout [Int32]) {
        var writer = NormalizedWriter(lowercase: lowercase, stripAccents: stripAccents)
        for index in range {
            let value = scalars[index].value
            let source = Int32(index)
            if value < 0x80 {
                // ASCII: controls other than tab/newline/CR are dropped, whitespace is a space.
                var ascii = value
                if cleanText {
                    if value == 0x09 || value == 0x0A || value == 0x0D {
                        ascii = 0x20
                    } else if value < 0x20 || value == 0x7F {
                        continue
                    }
                }
                writer.starter(ascii, source: source, output: &output, alignment: &alignment)
                continue
            }
            let properties = BertScalarProperties(value)
            if cleanText {
                if properties.isRemovedByCleanText { continue }
                if properties.isWhitespace { writer.starter(0x20, source: source, output: &output, alignment: &alignment); continue }
            }
            let isolated = handleChineseChars && properties.isChineseCharacter
            if isolated { writer.starter(0x20, source: source, output: &output, alignment: &alignment) }
            writer.scalar(value, properties: properties, source: source, output: &output, alignment: &alignment)
            if isolated { writer.starter(0x20, source: source, output: &output, alignment: &alignment) }
        }
        writer.flush(output: &output, alignment: &alignment)
    }

    /// Writes what cleaning and CJK spacing kept through the remaining steps: NFD with its
    /// canonical reordering, removal of nonspacing marks, lowercasing.
    ///
    /// NFD sorts each run of non-starters (combining class > 0) by class. `tokenizers` then aligns
    /// its output by position, not by origin (`NormalizedString::transform`): the first scalar of
    /// each input scalar's decomposition consumes the next input scalar's alignment in input
    /// order, wherever sorting put it, and every further scalar shares the alignment consumed last.
    /// Scalars that sorting moves past one another can thus take each other's offsets; this keeps
    /// that, so that `[UNK]` spans come out as in `tokenizers`.
    private struct NormalizedWriter {
        let lowercase: Bool
        let stripAccents: Bool
        /// Non-starters waiting for the next starter: scalar, class, and whether it is the first
        /// scalar of its input scalar's decomposition.
        var pending: [(scalar: UInt32, combiningClass: UInt8, first: Bool)] = []
        /// Alignments of the input scalars whose first decomposed scalar is in `pending`, in order.
        var pendingSources: [Int32] = []
        /// The alignment consumed last.
        var lastSource: Int32 = 0

        init(lowercase: Bool, stripAccents: Bool) {
            self.lowercase = lowercase
            self.stripAccents = stripAccents
        }

        /// An ASCII scalar or a space: a starter without decomposition.
        @inline(__always) mutating func starter(_ value: UInt32, source: Int32, output: inout [UInt32], alignment: inout [Int32]) {
            if !pending.isEmpty { flush(output: &output, alignment: &alignment) }
            lastSource = source
            let lowered = lowercase && value >= 0x41 && value <= 0x5A ? value + 32 : value
            output.append(lowered); alignment.append(source)
        }

        /// A non-ASCII scalar that cleaning kept.
        mutating func scalar(_ value: UInt32, properties: BertScalarProperties, source: Int32, output: inout [UInt32], alignment: inout [Int32]) {
            guard stripAccents else {
                emit(value, properties: properties, source: source, output: &output, alignment: &alignment)
                return
            }
            if !properties.decomposes && properties.combiningClass == 0 && !(0xAC00...0xD7A3).contains(value) {
                // A starter that NFD leaves alone, the common case.
                if !pending.isEmpty { flush(output: &output, alignment: &alignment) }
                lastSource = source
                if !properties.isNonspacingMark { emit(value, properties: properties, source: source, output: &output, alignment: &alignment) }
                return
            }
            var first = true
            BertScalarProperties.forEachDecomposed(value, decomposes: properties.decomposes) { part in
                let partProperties = BertScalarProperties(part)
                let combiningClass = partProperties.combiningClass
                if combiningClass == 0 {
                    if !pending.isEmpty { flush(output: &output, alignment: &alignment) }
                    if first { lastSource = source }
                    if !partProperties.isNonspacingMark {
                        emit(part, properties: partProperties, source: lastSource, output: &output, alignment: &alignment)
                    }
                } else {
                    if first { pendingSources.append(source) }
                    pending.append((part, combiningClass, first))
                }
                first = false
            }
        }

        /// Sorts the pending non-starters by combining class (stably) and emits them.
        mutating func flush(output: inout [UInt32], alignment: inout [Int32]) {
            guard !pending.isEmpty else { return }
            for i in 1..<pending.count {
                var j = i
                let item = pending[i]
                while j > 0 && pending[j - 1].combiningClass > item.combiningClass {
                    pending[j] = pending[j - 1]
                    j -= 1
                }
                pending[j] = item
            }
            var next = 0
            for item in pending {
                if item.first {
                    lastSource = pendingSources[next]
                    next += 1
                }
                let properties = BertScalarProperties(item.scalar)
                if !properties.isNonspacingMark {
                    emit(item.scalar, properties: properties, source: lastSource, output: &output, alignment: &alignment)
                }
            }
            pending.removeAll(keepingCapacity: true)
            pendingSources.removeAll(keepingCapacity: true)
        }

        /// Appends a scalar past NFD and mark removal, lowercased if asked.
        @inline(__always) func emit(_ value: UInt32, properties: BertScalarProperties, source: Int32, output: inout [UInt32], alignment: inout [Int32]) {
            if value < 0x80 {
                output.append(lowercase && value >= 0x41 && value <= 0x5A ? value + 32 : value); alignment.append(source)
            } else if lowercase && properties.lowercaseDiffers {
                BertScalarProperties.forEachLowercased(value) { lowered in output.append(lowered); alignment.append(source) }
            } else {
                output.append(value); alignment.append(source)
            }
        }
    }
}
