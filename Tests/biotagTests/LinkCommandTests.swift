import Foundation
import Testing
import TestSupport

/// `biotag link` and `biotag eval-link` end to end on a small dictionary and corpus.
@Suite struct LinkCommandTests {
    static let dictionary = """
        MESH:D020388\tMuscular Dystrophy, Duchenne\tDuchenne muscular dystrophy\tOMIM:310200
        MESH:D001943\tBreast Neoplasms\tbreast cancer\t

        """
    static let corpus = """
        5|t|Boys with Duchenne muscular dystrophy (DMD).
        5|a|DMD and breast cancers were compared.
        5\t10\t37\tDuchenne muscular dystrophy\tSpecificDisease\tOMIM:310200
        5\t45\t48\tDMD\tSpecificDisease\tD020388
        5\t53\t67\tbreast cancers\tSpecificDisease\tD001943

        """

    @Test func linkAndEvalLink() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.dictionary.write(toFile: "\(directory)/d.tsv", atomically: true, encoding: .utf8)
        try Self.corpus.write(toFile: "\(directory)/c.pubtator", atomically: true, encoding: .utf8)
        let linked = try BiotagCommand.run(["link", "--dictionary", "\(directory)/d.tsv", "--top", "1"],
                                           stdin: Data((#"{"text": "Breast Cancers"}"# + "\n" + #"{"text": ""}"#).utf8))
        #expect(linked.status == 0, "\(linked.stderr)")
        let lines = linked.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(linked.output)")
        #expect(lines.first?.contains(#""id":"MESH:D001943""#) == true && lines.last?.contains(#""concepts":[]"#) == true, "\(linked.output)")

        let evaluated = try BiotagCommand.run(["eval-link", "--dictionary", "\(directory)/d.tsv", "--corpus", "\(directory)/c.pubtator", "--json", "--ablation"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: evaluated.stdout) as? [String: Any])
        let rows = try #require(object["gold_spans"] as? [[String: Any]])
        #expect(rows.map { $0["stages"] as? String } == ["exact", "exact+abbreviation", "exact+abbreviation+composite", "exact+abbreviation+composite+ngram"])
        // "DMD" is no dictionary term: the document's own definition links it.
        #expect(rows.allSatisfy { $0["mentions"] as? Int == 3 })
        #expect(rows.map { (($0["accuracy_at_1"] as? Double ?? 0) * 3).rounded() } == [2, 3, 3, 3])

        let circular = try BiotagCommand.run(["eval-link", "--dictionary", "\(directory)/d.tsv", "--corpus", "\(directory)/c.pubtator", "--train", "\(directory)/c.pubtator"])
        #expect(circular.status != 0 && circular.stderr.contains("is the corpus evaluated"), "\(circular.stderr)")
        try "MESH:X\tname\n".write(toFile: "\(directory)/bad.tsv", atomically: true, encoding: .utf8)
        let bad = try BiotagCommand.run(["link", "--dictionary", "\(directory)/bad.tsv"], stdin: Data())
        #expect(bad.status != 0 && bad.stderr.contains("bad.tsv:1:"), "\(bad.stderr)")
    }
}
