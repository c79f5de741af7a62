/// What Hugging Face's BERT normalizer and pre-tokenizer make of one Unicode scalar, as measured
/// on the pinned `tokenizers` (`BertUnicodeTables`), not Swift's own Unicode tables: those are of
/// another Unicode version. Measured against Swift 6.3's: `tokenizers` keeps the 814,730 code
/// points unassigned there (it deletes only Cc, Cf and Co), and differs on 20 format characters,
/// 143 punctuation characters, 496 nonspacing marks, 154 combining classes and 1 decomposition,
/// all of characters assigned after Unicode 8.0 or recategorized since.
struct BertScalarProperties {
    let bits: UInt16

    /// One binary search over the runs of scalars with equal properties (about 2,700 runs).
    @inline(__always) init(_ value: UInt32) {
        bits = BertUnicodeTables.runStarts.withUnsafeBufferPointer { starts in
            var low = 0
            var high = starts.count
            while high - low > 1 {
                let middle = (low + high) >> 1
                if starts[middle] <= value { low = middle } else { high = middle }
            }
            return BertUnicodeTables.runProperties[low]
        }
    }

    /// Deleted by `clean_text`: NUL, U+FFFD and the control, format and private-use characters of
    /// Unicode 8.0 (Cc, Cf, Co), except tab, LF and CR. Unassigned code points are kept.
    var isRemovedByCleanText: Bool { bits & BertUnicodeTables.removedByCleanText != 0 }
    /// Rust's `char::is_whitespace` (White_Space): separates words.
    var isWhitespace: Bool { bits & BertUnicodeTables.whitespace != 0 }
    /// Unicode 8.0 punctuation (P*) or ASCII punctuation: a word of its own.
    var isPunctuation: Bool { bits & BertUnicodeTables.punctuation != 0 }
    /// In one of the CJK ideograph blocks that `handle_chinese_chars` surrounds with spaces.
    var isChineseCharacter: Bool { bits & BertUnicodeTables.chineseCharacter != 0 }
    /// A Unicode 8.0 nonspacing mark (Mn), which `strip_accents` deletes after NFD.
    var isNonspacingMark: Bool { bits & BertUnicodeTables.nonspacingMark != 0 }
    /// Has a canonical decomposition other than a Hangul syllable's.
    var decomposes: Bool { bits & BertUnicodeTables.decomposes != 0 }
    /// Lowercasing (Rust's `char::to_lowercase`) changes it.
    var lowercaseDiffers: Bool { bits & BertUnicodeTables.lowercases != 0 }
    /// Unicode 9.0 canonical combining class; 0 for starters and for everything assigned later.
    /// A 9.0 mark can have a class without being a nonspacing mark here (U+08D4).
    var combiningClass: UInt8 { UInt8(truncatingIfNeeded: bits >> 8) }

    /// Calls `body` with each scalar of the full canonical decomposition of `value` (Unicode 9.0),
    /// or with `value` alone when it has none.
    @inline(__always) static func forEachDecomposed(_ value: UInt32, decomposes: Bool, _ body: (UInt32) -> Void) {
        if value >= 0xAC00 && value <= 0xD7A3 {
            // Hangul syllables decompose by arithmetic into conjoining jamo (The Unicode Standard, 3.12).
            let index = value - 0xAC00
            body(0x1100 + index / 588)
            body(0x1161 + (index % 588) / 28)
            if index % 28 != 0 { body(0x11A7 + index % 28) }
            return
        }
        guard decomposes, let key = search(BertUnicodeTables.decompositionKeys, value) else { body(value); return }
        let starts = BertUnicodeTables.decompositionStarts
        for position in Int(starts[key])..<Int(starts[key + 1]) { body(BertUnicodeTables.decompositionScalars[position]) }
    }

    /// Calls `body` with each scalar of the lowercase mapping of `value` (Rust's `to_lowercase`).
    @inline(__always) static func forEachLowercased(_ value: UInt32, _ body: (UInt32) -> Void) {
        if let expansion = BertUnicodeTables.lowercaseExpansions[value] {
            for scalar in expansion { body(scalar) }
            return
        }
        body(UInt32(Int64(value) + lowercaseDelta(value)))
    }

    /// The difference between the lowercase of a scalar with a one-scalar mapping and itself.
    static func lowercaseDelta(_ value: UInt32) -> Int64 {
        BertUnicodeTables.lowercaseRuns.withUnsafeBufferPointer { runs in
            // Runs are (first, last, stride, delta); find the last run whose first ≤ value.
            var low = 0
            var high = runs.count / 4
            while high - low > 1 {
                let middle = (low + high) >> 1
                if UInt32(runs[middle * 4]) <= value { low = middle } else { high = middle }
            }
            let first = Int64(runs[low * 4]), last = Int64(runs[low * 4 + 1]), stride = Int64(runs[low * 4 + 2])
            let scalar = Int64(value)
            guard scalar >= first, scalar <= last, (scalar - first) % stride == 0 else { return 0 }
            return Int64(runs[low * 4 + 3])
        }
    }

    /// Index of `value` in the sorted `keys`.
    private static func search(_ keys: [UInt32], _ value: UInt32) -> Int? {
        keys.withUnsafeBufferPointer { keys in
            var low = 0
            var high = keys.count
            while low < high {
                let middle = (low + high) >> 1
                if keys[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low < keys.count && keys[low] == value ? low : nil
        }
    }
}
