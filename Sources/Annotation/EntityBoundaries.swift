import Foundation

/// What a head's decoded span becomes before it is reported: its edges moved to where a curator
/// would put them, or nothing. The heads label words as BERT cuts them (punctuation alone), so a
/// span may start or end on punctuation that a person reads as part of a word: "-PLL" of
/// "T-PLL", "-dependent diabetes mellitus" of "insulin-dependent …", "Kaposi'" of "Kaposi's",
/// "von Willebrand factor (".
///
/// - A hyphen or apostrophe at an edge that joins the span to the word beside it (no space
///   between) pulls that word in, up to the whitespace: "-PLL" becomes "T-PLL". After a digit an
///   apostrophe is a prime and stays ("3'"). A slash separates names ("SCA3/Machado-Joseph
///   disease" is two), so it is dropped like other punctuation.
/// - Other punctuation at an edge is dropped ("factor (" → "factor"), except a bracket whose
///   partner is inside the span ("Na(+)", "(+)-catechin", "[3H]thymidine") and a charge sign
///   after a letter, digit or bracket ("Ca2+", "Na(+)+" stays whole). A closing parenthetical
///   after a space is an abbreviation being defined, not part of the name: "inner medulla (IM)"
///   → "inner medulla".
/// - Emoji and other pictographs at an edge are dropped ("BRCA1🧬" → "BRCA1").
/// - A span left without a letter names nothing ("(", "2", "3.5"); nor does a function word alone
///   ("of", "the", "and") or a head's generic word alone ("gene", "locus" for the gene head):
///   none is reported.
public enum EntityBoundaries {
    /// English function words (articles, pronouns, prepositions, conjunctions, auxiliaries,
    /// common adverbs) that no head's type names on its own.
    public static let functionWords: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "also", "although", "am", "among", "an", "and", "any", "are", "as", "at",
        "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
        "during", "each", "either", "else", "ever", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here",
        "hers", "him", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "may", "might", "more", "most",
        "much", "must", "my", "neither", "no", "nor", "not", "of", "off", "on", "once", "one", "only", "or", "other", "our", "out", "over",
        "own", "per", "same", "shall", "she", "should", "since", "so", "some", "such", "than", "that", "the", "their", "them", "then",
        "there", "these", "they", "this", "those", "though", "through", "thus", "to", "too", "under", "until", "up", "upon", "very",
        "via", "was", "we", "were", "what", "when", "where", "whereas", "whether", "which", "while", "who", "whom", "whose", "why",
        "will", "with", "within", "without", "would", "yet", "you", "your",
    ]

    /// The span `range` of `text` with its edges repaired, or nil when it names nothing.
    /// - Parameters:
    ///   - range: Unicode scalar offsets into `text`.
    ///   - type: the reporting head, whose `genericWords` name nothing alone.
    public static func repaired(_ range: Range<Int>, in text: ArraySlice<Unicode.Scalar>, type: String? = nil) -> Range<Int>? {
        let base = text.startIndex, count = text.count
        func at(_ offset: Int) -> Unicode.Scalar { text[base + offset] }
        var start = range.lowerBound, end = range.upperBound
        // Widening goes to the whitespace, so it happens at most once per edge.
        while start < end {
            let first = at(start)
            if isJoiner(first), start > 0, isWordScalar(at(start - 1)) {
                while start > 0, !isSpace(at(start - 1)) { start -= 1 }
            } else if isSpace(first) || isStraySymbol(first) || (isPunctuation(first) && !(isOpening(first) && closes(from: start, before: end, at: at))) {
                start += 1
            } else {
                break
            }
        }
        while start < end {
            let last = at(end - 1), before: Unicode.Scalar? = end - 1 > start ? at(end - 2) : nil
            if isJoiner(last), end < count, isWordScalar(at(end)), !(isPrime(last) && before.map(isDigit) == true) {
                while end < count, !isSpace(at(end)) { end += 1 }
            } else if isClosing(last), let opening = opening(after: start, to: end - 1, at: at), opening > start, isSpace(at(opening - 1)) {
                end = opening  // "inner medulla (IM)": the abbreviation defined after a name is not part of it
            } else if isSpace(last) || isStraySymbol(last) || (isPunctuation(last) && !keptAtEnd(last, before: before, start: start, end: end, at: at)) {
                end -= 1
            } else {
                break
            }
        }
        guard start < end else { return nil }
        let span = text[(base + start)..<(base + end)]
        guard span.contains(where: \.properties.isAlphabetic) else { return nil }
        if span.count <= 8 {
            let word = String(String.UnicodeScalarView(span))
            if isFunctionWord(word) || type.map({ isGeneric(word, type: $0) }) == true { return nil }
        }
        return start..<end
    }

    /// A function word as prose writes it: "of", "The"; not an abbreviation ("AS" is Angelman
    /// syndrome, "NO" nitric oxide) nor a short capitalized symbol ("As" is arsenic, "He" helium).
    static func isFunctionWord(_ text: String) -> Bool {
        let lower = text.lowercased()
        guard functionWords.contains(lower) else { return false }
        return text == lower || (text.count > 2 && text == lower.prefix(1).uppercased() + lower.dropFirst())
    }

    /// A closing bracket opened inside the span, a charge sign after a letter, digit or bracket
    /// ("Ca2+"), a prime after a digit ("3'").
    private static func keptAtEnd(_ last: Unicode.Scalar, before: Unicode.Scalar?, start: Int, end: Int, at: (Int) -> Unicode.Scalar) -> Bool {
        guard let before else { return false }
        if isClosing(last) { return opening(after: start, to: end - 1, at: at) != nil }
        if isCharge(last) { return !isSpace(before) && !isJoiner(before) }
        if isPrime(last) { return isDigit(before) }
        return false
    }

    /// Emoji and other pictographs, their modifiers, joiners and variation selectors: BERT keeps
    /// them inside a word ("BRCA1🧬"), no name ends with one.
    static func isStraySymbol(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .otherSymbol, .modifierSymbol, .format: return true
        default: return scalar.value == 0xFE0E || scalar.value == 0xFE0F
        }
    }

    /// Words that head types use around names but that never name anything alone: in BC2GM's
    /// training split "gene" is a whole gene entity 0 times in 1,296, "protein" 0 in 1,390,
    /// "locus" 0 in 84, "allelic" 0 in 6.
    public static let genericWords: [String: Set<String>] = [
        "gene": ["gene", "genes", "locus", "loci", "allele", "alleles", "allelic", "protein", "proteins"],
    ]

    /// Whether `text`, reported by the head `type`, is one of its generic words.
    public static func isGeneric(_ text: String, type: String) -> Bool {
        genericWords[type]?.contains(text.lowercased()) ?? false
    }

    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.numericType != nil }

    static func isPrime(_ scalar: Unicode.Scalar) -> Bool { scalar == "'" || scalar == "\u{2032}" || scalar == "\u{2019}" }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    public static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isAlphabetic || scalar.properties.numericType != nil }

    /// Hyphens and dashes that join words, and apostrophes.
    static func isJoiner(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "-", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "'", "\u{2019}": true
        default: false
        }
    }

    static func isCharge(_ scalar: Unicode.Scalar) -> Bool { scalar == "+" || scalar == "\u{2212}" || scalar == "\u{207A}" || scalar == "\u{207B}" }

    /// Punctuation and symbols as BERT's pre-tokenizer splits them off.
    public static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 0x21 && value <= 0x2F) || (value >= 0x3A && value <= 0x40) || (value >= 0x5B && value <= 0x60) || (value >= 0x7B && value <= 0x7E)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static let pairs: [Unicode.Scalar: Unicode.Scalar] = ["(": ")", "[": "]", "{": "}"]

    static func isOpening(_ scalar: Unicode.Scalar) -> Bool { pairs[scalar] != nil }

    static func isClosing(_ scalar: Unicode.Scalar) -> Bool { pairs.values.contains(scalar) }

    /// Whether the bracket at `from` closes before `end` (nesting counted).
    static func closes(from: Int, before end: Int, at: (Int) -> Unicode.Scalar) -> Bool {
        guard let closing = pairs[at(from)] else { return false }
        let opening = at(from)
        var depth = 0
        for index in from..<end {
            if at(index) == opening { depth += 1 } else if at(index) == closing { depth -= 1; if depth == 0 { return true } }
        }
        return false
    }

    /// Where the bracket at `to` opens, at or after `start` (nesting counted).
    static func opening(after start: Int, to: Int, at: (Int) -> Unicode.Scalar) -> Int? {
        let closing = at(to)
        guard let opening = pairs.first(where: { $0.value == closing })?.key else { return nil }
        var depth = 0
        for index in stride(from: to, through: start, by: -1) {
            if at(index) == closing { depth += 1 } else if at(index) == opening { depth -= 1; if depth == 0 { return index } }
        }
        return nil
    }
}
