import Foundation

/// How a label constrains its neighbour in IOB2: `I-X` may only follow `B-X` or `I-X`. Labels that
/// are neither `O`, `B-*` nor `I-*` are outside labels.
public enum IOB2Role: Equatable, Sendable {
    case outside
    case begin(Substring)
    case inside(Substring)

    public init(_ label: String) {
        if label.hasPrefix("B-") { self = .begin(label.dropFirst(2)) }
        else if label.hasPrefix("I-") { self = .inside(label.dropFirst(2)) }
        else { self = .outside }
    }

    /// Whether this label may come right after `previous` (`.outside` for the sentence start).
    public func mayFollow(_ previous: IOB2Role) -> Bool {
        guard case let .inside(type) = self else { return true }
        return previous == .begin(type) || previous == .inside(type)
    }
}

/// The valid IOB2 label sequence with the highest total score: constrained Viterbi decoding.
///
/// The forbidden transitions are start→`I-X`, `O`→`I-X` and `B-X`/`I-X`→`I-Y` for Y ≠ X; all others
/// cost nothing. Scores are summed in `Double`; ties go to the lower label index, so when the
/// per-word argmax is already valid it is the result. If no valid sequence exists (every label is
/// an `I-` label), returns the per-word argmax.
/// - Parameters:
///   - scores: [words][labels] log-probabilities.
///   - labels: the label of each score column.
/// - Returns: [words] label indices.
public func viterbiDecode(scores: [[Float]], labels: [String]) -> [Int] {
    guard let first = scores.first else { return [] }
    let count = labels.count
    precondition(count > 0 && scores.allSatisfy { $0.count == count },
                 "viterbiDecode: every row of scores needs one score per label (\(count))")
    let roles = labels.map(IOB2Role.init)
    let allowed = roles.map { previous in roles.map { $0.mayFollow(previous) } }  // [previous][next]
    // best[j]: the highest total of a valid path ending in label j, nil when none reaches it.
    var best: [Double?] = roles.indices.map { roles[$0].mayFollow(.outside) ? Double(first[$0]) : nil }
    var backPointers: [[Int]] = []
    for row in scores.dropFirst() {
        var next = [Double?](repeating: nil, count: count)
        var from = [Int](repeating: 0, count: count)
        for label in 0..<count {
            for previous in 0..<count where allowed[previous][label] {
                guard let total = best[previous] else { continue }
                if let current = next[label], !(total > current) { continue }
                next[label] = total
                from[label] = previous
            }
            next[label]? += Double(row[label])
        }
        best = next
        backPointers.append(from)
    }
    guard var label = indexOfMaximum(best) else { return scores.map { row in indexOfMaximum(row.map { Double($0) })! } }
    var path = [label]
    for from in backPointers.reversed() {
        label = from[label]
        path.append(label)
    }
    return path.reversed()
}

/// The first index of the largest non-nil value.
private func indexOfMaximum(_ values: [Double?]) -> Int? {
    var best: (index: Int, value: Double)?
    for (index, value) in values.enumerated() {
        guard let value else { continue }
        if let current = best, !(value > current.value) { continue }
        best = (index, value)
    }
    return best?.index
}
