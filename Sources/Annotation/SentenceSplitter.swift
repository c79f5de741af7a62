import Foundation

/// Splits text into sentences by rule, returning Unicode scalar ranges (whitespace trimmed).
///
/// The model was trained on sentences, and short pieces batch with little attention cost, so the
/// pipeline annotates sentence by sentence. The rules are conservative (a missed split only
/// makes a longer piece; a wrong split can cut an entity): a break after `.`, `!` or `?` (and any
/// closing quotes or brackets) followed by whitespace and an uppercase letter, digit or opening
/// bracket — except after common abbreviations (`e.g.`, `Fig.`, `et al.`, ...) and single
/// initials (`J. Smith`); and at every blank line. Pieces still too long for the model are cut
/// into windows later.
public struct SentenceSplitter: Sendable {
    /// Lowercased words that end with a period without ending a sentence.
    public static let abbreviations: Set<String> = [
        "e.g", "i.e", "al", "fig", "figs", "vs", "cf", "approx", "ca", "no", "nos", "sp", "spp", "subsp", "var", "dr", "mr", "mrs", "ms",
        "prof", "etc", "resp", "ref", "refs", "eq", "eqs", "vol", "suppl", "tab", "st", "inc", "ltd", "co", "jr", "sr", "min", "max", "mol", "wt",
    ]

    public init() {}

    public func split(_ text: String) -> [Range<Int>] {
        split(Array(text.unicodeScalars))
    }

    public func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var sentences: [Range<Int>] = []
        var start = 0
        var index = 0
        func close(at end: Int) {
            if let trimmed = trim(scalars, start..<end) { sentences.append(trimmed) }
            start = end
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\n" {
                // A blank line (only whitespace between two newlines) ends a paragraph.
                var next = index + 1
                while next < scalars.count, scalars[next] != "\n", scalars[next].properties.isWhitespace { next += 1 }
                if next < scalars.count, scalars[next] == "\n" { close(at: index); index = next; continue }
            } else if scalar == "." || scalar == "!" || scalar == "?" {
                var end = index + 1
                while end < scalars.count, Self.closers.contains(scalars[end]) { end += 1 }
                var next = end
                while next < scalars.count, scalars[next].properties.isWhitespace { next += 1 }
                if next > end, next < scalars.count, Self.opensSentence(scalars[next]), !(scalar == "." && isAbbreviation(scalars, periodAt: index)) {
                    close(at: end)
                    index = next
                    continue
                }
            }
            index += 1
        }
        close(at: scalars.count)
        return sentences
    }

    private static let closers: Set<Unicode.Scalar> = ["\"", "'", ")", "]", "}", "\u{201D}", "\u{2019}", "\u{00BB}"]

    private static func opensSentence(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isUppercase || scalar.properties.numericType != nil || "([\"'\u{201C}\u{2018}".unicodeScalars.contains(scalar)
    }

    /// Whether the word before the period at `index` is an abbreviation or a single letter.
    private func isAbbreviation(_ scalars: [Unicode.Scalar], periodAt index: Int) -> Bool {
        var begin = index
        while begin > 0, !scalars[begin - 1].properties.isWhitespace, !"([\"'".unicodeScalars.contains(scalars[begin - 1]) { begin -= 1 }
        let word = String(String.UnicodeScalarView(scalars[begin..<index])).lowercased()
        if word.isEmpty { return false }
        if word.unicodeScalars.count == 1, word.unicodeScalars.first!.properties.isAlphabetic { return true }
        return Self.abbreviations.contains(word)
    }

    private func trim(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> Range<Int>? {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, scalars[lower].properties.isWhitespace { lower += 1 }
        while upper > lower, scalars[upper - 1].properties.isWhitespace { upper -= 1 }
        return lower < upper ? lower..<upper : nil
    }
}
