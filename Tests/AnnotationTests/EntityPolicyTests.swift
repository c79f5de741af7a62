import Annotation
import Foundation
import Testing

/// Edge repair and the rule between heads, on spans written by hand: what a curator would
/// accept is the reference.
@Suite struct EntityPolicyTests {
    /// The repaired text of `span` (its first occurrence in `text`), nil when nothing is reported.
    static func repaired(_ span: String, in text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard let found = text.range(of: span) else { Issue.record("\(span) not in \(text)"); return nil }
        let lower = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: found.lowerBound)
        let upper = lower + span.unicodeScalars.count
        return EntityBoundaries.repaired(lower..<upper, in: scalars[...]).map { String(String.UnicodeScalarView(scalars[$0])) }
    }

    @Test func edgesOnPunctuationMoveToTheWord() {
        // A joiner at an edge pulls in the word it joins, up to the whitespace.
        #expect(Self.repaired("-PLL", in: "Patients with T-PLL had") == "T-PLL")
        #expect(Self.repaired("-dependent diabetes mellitus", in: "in insulin-dependent diabetes mellitus.") == "insulin-dependent diabetes mellitus")
        #expect(Self.repaired("Kaposi'", in: "with Kaposi's sarcoma") == "Kaposi's")
        #expect(Self.repaired("SCA3/", in: "in SCA3/Machado-Joseph disease") == "SCA3")
        // Other punctuation at an edge goes; a bracket whose partner is inside stays.
        #expect(Self.repaired("von Willebrand factor (", in: "von Willebrand factor (vWF)") == "von Willebrand factor")
        #expect(Self.repaired("(DMD", in: "dystrophy (DMD) in") == "DMD")
        #expect(Self.repaired("DMD)", in: "dystrophy (DMD) in") == "DMD")
        #expect(Self.repaired(", breast cancer", in: "ovarian, breast cancer") == "breast cancer")
        #expect(Self.repaired("Na(+)", in: "the Na(+) pump") == "Na(+)")
        #expect(Self.repaired("inner medulla (IM)", in: "the inner medulla (IM) of") == "inner medulla")
        #expect(Self.repaired("(-)-baclofen", in: "and (-)-baclofen were") == "(-)-baclofen")
        #expect(Self.repaired("(+)-catechin", in: "with (+)-catechin.") == "(+)-catechin")
        #expect(Self.repaired("[3H]thymidine", in: "of [3H]thymidine uptake") == "[3H]thymidine")
        #expect(Self.repaired("Ca2+", in: "intracellular Ca2+ levels") == "Ca2+")
        #expect(Self.repaired("5'-nucleotidase", in: "the 5'-nucleotidase activity") == "5'-nucleotidase")
        // A pictograph glued to a name is no part of it.
        #expect(Self.repaired("BRCA1🧬", in: "the BRCA1🧬 gene") == "BRCA1")
        #expect(Self.repaired("❤️TP53", in: "and ❤️TP53 too") == "TP53")
        #expect(EntityBoundaries.isGeneric("Gene", type: "gene") && !EntityBoundaries.isGeneric("gene", type: "disease"))
        // Spans that already sit on word edges are left alone, even inside a hyphenated token.
        #expect(Self.repaired("BRCA1", in: "BRCA1-associated tumours") == "BRCA1")
        #expect(Self.repaired("cisplatin", in: "cisplatin-induced nephrotoxicity") == "cisplatin")
    }

    @Test func spansThatNameNothingAreDropped() {
        for (span, text) in [("-", "T - PLL"), ("(", "factor ( vWF"), ("2", "type 2 diabetes"), ("3.5", "at 3.5 mg"), ("of", "loss of function"),
                             ("The", "The gene"), ("and", "breast and ovarian"), ("With", "With care"), ("- (", "a - ( b")] {
            #expect(Self.repaired(span, in: text) == nil, "\(span)")
        }
        // Abbreviations and symbols that are spelt like function words are names.
        for (span, text) in [("AS", "patients with AS were"), ("NO", "NO synthase"), ("As", "As and Cd levels"), ("He", "He gas")] {
            #expect(Self.repaired(span, in: text) == span)
        }
    }

    static func entity(_ type: String, _ start: Int, _ end: Int, _ score: Double) -> Entity {
        Entity(type: type, start: start, end: end, text: "x", score: score)
    }

    @Test func oneSpanOneAnswer() {
        let policy = OverlapPolicy(margin: 0.5)
        // Disease over anatomy on the same span unless anatomy is surer by the margin.
        #expect(policy.resolve([Self.entity("anatomy", 0, 13, 0.9), Self.entity("disease", 0, 13, 0.6)]).map(\.type) == ["disease"])
        #expect(policy.resolve([Self.entity("anatomy", 0, 13, 0.95), Self.entity("disease", 0, 13, 0.3)]).map(\.type) == ["anatomy"])
        // Types that name the same thing: one entity, the surer type first, the other noted.
        let merged = policy.resolve([Self.entity("cell_type", 4, 15, 0.8), Self.entity("cell", 4, 15, 0.9)])
        #expect(merged.count == 1 && merged[0].type == "cell" && merged[0].otherTypes == ["cell_type"])
        let three = policy.resolve([Self.entity("cell_type", 4, 15, 0.8), Self.entity("cell", 4, 15, 0.9), Self.entity("anatomy", 4, 15, 0.7)])
        #expect(three.count == 1 && three[0].otherTypes == ["cell_type", "anatomy"])
        // Otherwise the surer head wins.
        #expect(policy.resolve([Self.entity("gene", 0, 7, 0.7), Self.entity("chemical", 0, 7, 0.8)]).map(\.type) == ["chemical"])
        // "cancer" (anatomy) inside the disease "breast cancer" goes; "breast" stays, as does a
        // cell type inside anatomy (compatible) and anything on spans nobody else found.
        let nested = policy.resolve([Self.entity("disease", 0, 13, 0.9), Self.entity("anatomy", 7, 13, 0.9), Self.entity("anatomy", 0, 6, 0.8),
                                     Self.entity("anatomy", 20, 31, 0.8), Self.entity("cell_type", 25, 31, 0.8), Self.entity("gene", 40, 44, 0.5)])
        #expect(nested.map { "\($0.type) \($0.start)" } == ["anatomy 0", "disease 0", "anatomy 20", "cell_type 25", "gene 40"])
    }

    /// A catalog finds a run again by its settings' JSON: runs recorded before the repair and the
    /// rule between heads read back as raw, and today's defaults survive the round trip.
    @Test func settingsRecordTheRule() throws {
        let old = #"{"aggregation":"first","viterbi":false,"maxLength":128,"stride":32,"tokenBudget":8192}"#
        let decoded = try JSONDecoder().decode(AnnotationSettings.self, from: Data(old.utf8))
        #expect(decoded.raw && decoded.overlaps == nil && decoded.decoding == .argmax)
        let current = AnnotationSettings()
        #expect(!current.raw && current.overlaps == OverlapPolicy(margin: OverlapPolicy.defaultMargin) && current.decoding == .viterbi)
        #expect(try JSONDecoder().decode(AnnotationSettings.self, from: JSONEncoder().encode(current)) == current)
        var other = current
        other.overlaps = OverlapPolicy(margin: 1)
        #expect(try JSONEncoder().encode(other) != JSONEncoder().encode(current))
    }
}
