import Foundation

/// Rewrites labels into valid IOB2 with the entities the lenient reader sees in them: an `I-X` that
/// opens an entity there (after `O`, at the start, or after another type) becomes `B-X`. For labels
/// made of `O`, `B-X` and `I-X`, `chunks(repairBIO(x), mode: .strict) == chunks(x, mode: .lenient)`.
/// Other labels are kept as they are.
public func repairBIO(_ labels: [String]) -> [String] {
    var repaired = labels
    var previous = LenientToken.start
    for (index, label) in labels.enumerated() {
        let token = LenientToken(label)
        if token.prefix == "I" && token.starts(after: previous) {
            repaired[index] = "B" + String(Substring(label.unicodeScalars.dropFirst()))
        }
        previous = token
    }
    return repaired
}
