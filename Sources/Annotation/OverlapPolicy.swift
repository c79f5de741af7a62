import Foundation

/// One span, one answer: what the pipeline reports where several heads found the same words.
/// Each head learned from a corpus with its own conventions (AnatEM counts a tumour as anatomy,
/// CRAFT's cell types and BioNLP-CG's cells name the same mentions), so without a rule a curator
/// sees "breast cancer" as a disease and as anatomy, and "hepatocytes" twice.
///
/// - Types that name the same thing legitimately (`compatible`) become one entity: the surer
///   head's type, the others in `otherTypes` (a cell type and a cell, a cell and anatomy).
/// - Otherwise one type wins the span: the surer head, except that a preferred type
///   (`precedence`: disease over anatomy) wins unless the other head is surer by `margin`.
/// - A span inside another head's span that ends with it is the same head noun read by a head
///   of another type ("cancer" as anatomy inside the disease "breast cancer"): dropped, unless
///   the types are compatible. "breast" inside "breast cancer" does not end with it and stays.
///
/// `biotag annotate --raw` skips this and reports every head's own output.
public struct OverlapPolicy: Sendable, Equatable {
    /// Pairs of types that legitimately name the same mention: AnatEM's anatomy includes cells
    /// and cellular components, and CRAFT's cell types and BioNLP-CG's cells are one thing.
    public static let compatible: Set<Set<String>> = [
        ["cell", "cell_type"], ["anatomy", "cell"], ["anatomy", "cell_type"], ["anatomy", "cellular_component"],
    ]

    /// (preferred, other): on the same span the preferred type wins unless the other's score is
    /// higher by at least `margin`. A tumour is a disease to a curator, whatever AnatEM says.
    public var precedence: [Precedence] = [Precedence(preferred: "disease", other: "anatomy")]

    public struct Precedence: Sendable, Equatable {
        public var preferred: String
        public var other: String

        public init(preferred: String, other: String) { self.preferred = preferred; self.other = other }
    }
    public var margin: Double

    /// Chosen on devel (docs/RESULTS.md): the anatomy head is rarely that much surer where
    /// both fire, and when it is, the disease head is usually unsure.
    public static let defaultMargin = 0.5

    public init(margin: Double = OverlapPolicy.defaultMargin) { self.margin = margin }

    public static func compatible(_ a: String, _ b: String) -> Bool { a == b || compatible.contains([a, b]) }

    /// The entities of one passage (or sentence), resolved; sorted by start, end and type.
    public func resolve(_ entities: [Entity]) -> [Entity] {
        var bySpan: [Range<Int>: [Entity]] = [:]
        for entity in entities { bySpan[entity.start..<entity.end, default: []].append(entity) }
        var kept: [Entity] = []
        for (_, group) in bySpan {
            guard group.count > 1 else { kept.append(group[0]); continue }
            var winner = group.max { ($0.score, $1.type) < ($1.score, $0.type) }!
            for rule in precedence where winner.type == rule.other {
                if let preferred = group.first(where: { $0.type == rule.preferred }), winner.score - preferred.score < margin { winner = preferred }
            }
            var seen: Set = [winner.type]
            for other in group.sorted(by: { ($0.score, $1.type) > ($1.score, $0.type) }) where Self.compatible(winner.type, other.type) {
                for type in [other.type] + other.otherTypes where seen.insert(type).inserted { winner.otherTypes.append(type) }
            }
            kept.append(winner)
        }
        // Same head noun, another type: the shorter reading goes.
        let spans = kept
        kept.removeAll { inner in
            spans.contains { outer in
                outer.end == inner.end && outer.start < inner.start && !Self.compatible(outer.type, inner.type)
            }
        }
        return kept.sorted { ($0.start, $0.end, $0.type) < ($1.start, $1.end, $1.type) }
    }
}
