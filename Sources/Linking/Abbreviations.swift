/// Abbreviations defined in a document, found the way Schwartz and Hearst (2003) describe:
/// a short form in parentheses after its long form, `Duchenne muscular dystrophy (DMD)`; the long
/// form is the shortest run of words before the parenthesis that holds the short form's letters
/// in order, its first letter at the start of a word.
public struct Abbreviations: Sendable, Equatable {
    /// Short form → long form, as written in the document.
    public private(set) var longForms: [String: String] = [:]
    /// Binomial names the document writes out, by the key of their abbreviated form: `p aeruginosa`
    /// (`TermNormalizer.key("P. aeruginosa")`) → `Pseudomonas aeruginosa`; the first one wins.
    public private(set) var binomials: [String: String] = [:]

    public init(longForms: [String: String] = [:], binomials: [String: String] = [:]) {
        self.longForms = longForms
        self.binomials = binomials
    }

    /// The long form of a mention: the definition of a short form, or the binomial name that an
    /// abbreviated one (`P. aeruginosa`, `S.tuberosum`) stands for.
    public func expansion(of mention: String) -> String? {
        if let long = longForms[mention.trimmingCharacters(in: .whitespaces)] { return long }
        let words = TermNormalizer.words(mention)
        guard words.count == 2, words[0].count == 1 else { return nil }
        return binomials[TermNormalizer.key(mention)]
    }

    /// The abbreviations of `text`; the first definition of a short form wins.
    public init(text: String) {
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            guard characters[index] == "(", let close = characters[(index + 1)...].firstIndex(of: ")"), close - index - 1 <= 12 else {
                index += 1
                continue
            }
            let short = String(characters[(index + 1)..<close]).trimmingCharacters(in: .whitespaces)
            if Self.isShortForm(short), longForms[short] == nil {
                // The long form is at most 20 words: the 600 characters before the parenthesis
                // hold it (the whole text before it made full-text articles quadratic).
                let before = String(characters[max(0, index - 600)..<index])
                if let long = Self.longForm(for: short, before: before) { longForms[short] = long }
            }
            index = close + 1
        }
        // "Genus species": a capitalized word of three letters or more, then a lower-case one.
        let words = text.split(whereSeparator: { !$0.isLetter })
        for (genus, species) in zip(words, words.dropFirst()) {
            guard genus.count >= 3, species.count >= 3, genus.first!.isUppercase, genus.dropFirst().allSatisfy(\.isLowercase),
                  species.allSatisfy(\.isLowercase) else { continue }
            let key = TermNormalizer.key("\(genus.first!) \(species)")
            if binomials[key] == nil { binomials[key] = "\(genus) \(species)" }
        }
    }

    /// 2–10 characters, at most two words, a letter among them, starting with a letter or digit.
    static func isShortForm(_ text: String) -> Bool {
        guard (2...10).contains(text.count), text.split(separator: " ").count <= 2,
              let first = text.first, first.isLetter || first.isNumber, text.contains(where: \.isLetter) else { return false }
        return true
    }

    /// The long form ending just before the parenthesis, or nil when the words there do not
    /// hold the short form's letters.
    static func longForm(for short: String, before text: String) -> String? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        let window = min(words.count, min(short.count + 5, short.count * 2))
        guard window > 0 else { return nil }
        let candidate = words.suffix(window).joined(separator: " ")
        let letters = Array(candidate.lowercased()), wanted = Array(short.lowercased())
        var s = wanted.count - 1, l = letters.count - 1
        while s >= 0 {
            let c = wanted[s]
            guard c.isLetter || c.isNumber else { s -= 1; continue }
            // Find c in the long form, leftwards; the short form's first character must begin a word.
            while l >= 0, letters[l] != c || (s == 0 && l > 0 && (letters[l - 1].isLetter || letters[l - 1].isNumber)) { l -= 1 }
            guard l >= 0 else { return nil }
            l -= 1
            s -= 1
        }
        // The long form starts at the word holding the short form's first character.
        let start = letters[..<(l + 1)].lastIndex(of: " ").map { $0 + 1 } ?? 0
        let long = String(Array(candidate)[start...]).trimmingCharacters(in: .whitespaces)
        guard long.count > short.count, !long.contains("(") else { return nil }
        return long
    }
}
