import Foundation

/// How mentions and dictionary terms are compared: case, width and diacritics folded,
/// punctuation as spaces, a plural `s` dropped from each word, and the words in any order.
public enum TermNormalizer {
    /// The words of a term, folded, plural-stripped, in their order.
    public static func words(_ text: String) -> [String] {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
        var current = "", words: [String] = []
        for scalar in folded.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(singular(current))
                current = ""
            }
        }
        if !current.isEmpty { words.append(singular(current)) }
        return words
    }

    /// The exact-lookup key: the words sorted, so word order does not matter.
    public static func key(_ text: String) -> String {
        words(text).sorted().joined(separator: " ")
    }

    /// `tumors` → `tumor`, `deficiencies` → `deficiency`; words of three letters or fewer, and
    /// those ending in `ss`, `us` or `is` (`fibrosis`, `virus`), are kept.
    static func singular(_ word: String) -> String {
        guard word.count > 3, word.hasSuffix("s"), !word.hasSuffix("ss"), !word.hasSuffix("us"), !word.hasSuffix("is") else { return word }
        if word.hasSuffix("ies"), word.count > 4 { return String(word.dropLast(3)) + "y" }
        return String(word.dropLast())
    }
}
