import Foundation
import Testing
import TestSupport

/// `biotag annotate` with the default model's own linkers (models/bioner-minilm-8/linking/) and a
/// user's: concept ids in every output format, one entity for a span two heads link alike.
@Suite struct LinkedAnnotationTests {
    static let text = "Tamoxifen reduced breast cancer in women with BRCA1 and TP53 variants; hepatocytes of mice showed damage."

    @Test func theDefaultModelLinksWithItsOwnLinkers() throws {
        let found = try DefaultModelTests.linkedEntities(in: Self.text)
        func concept(_ type: String, _ text: String) -> String?? { found.first { $0.type == type && $0.text == text }.map(\.concept) }
        #expect(concept("chemical", "Tamoxifen") == .some("MESH:D013629"), "\(found)")
        #expect(concept("species", "women") == .some("NCBITaxon:9606"), "\(found)")
        #expect(concept("species", "mice") == .some("NCBITaxon:10090"), "\(found)")
        #expect(concept("gene", "BRCA1") == .some("HGNC:1100"), "\(found)")
        // No disease linker ships (CTD's terms): the span is reported without a concept.
        #expect(concept("disease", "breast cancer") == .some(nil), "\(found)")
        // Both cell heads find "hepatocytes" and link it to one Cell Ontology concept: one entity.
        let hepatocytes = found.filter { $0.text == "hepatocytes" }
        #expect(hepatocytes.allSatisfy { $0.concept == "CL:0000182" } && Set(hepatocytes.map(\.type)).isSuperset(of: ["cell", "cell_type"]), "\(found)")
        let plain = try DefaultModelTests.linkedEntities(in: Self.text, arguments: ["--no-link"])
        #expect(!plain.isEmpty && plain.allSatisfy { $0.concept == nil })
    }

    @Test func everyFormatCarriesTheConcept() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = try JSONSerialization.data(withJSONObject: ["id": "d1", "text": Self.text])
        func annotate(_ format: String, _ output: String) throws {
            let result = try BiotagCommand.run(["annotate", "--quiet", "--to", format, "-o", output], stdin: input, workingDirectory: TestPaths.repository.path)
            #expect(result.status == 0, "\(result.stderr)")
        }
        try annotate("pubtator", "\(directory)/out.pubtator")
        #expect(try String(contentsOfFile: "\(directory)/out.pubtator", encoding: .utf8).contains("d1\t0\t9\tTamoxifen\tchemical\tMESH:D013629\n"))
        try annotate("bioc-xml", "\(directory)/out.xml")
        #expect(try String(contentsOfFile: "\(directory)/out.xml", encoding: .utf8).contains("<infon key=\"identifier\">MESH:D013629</infon>"))
        try annotate("brat", "\(directory)/brat")
        let ann = try String(contentsOfFile: "\(directory)/brat/d1.ann", encoding: .utf8)
        let tamoxifen = try #require(ann.split(separator: "\n").first { $0.hasSuffix("\tTamoxifen") }?.split(separator: "\t").first)
        #expect(ann.contains("\tReference \(tamoxifen) MESH:D013629\tTamoxifen\n"), "\(ann)")
    }

    /// A user's directory adds a head's linker (here a one-concept disease dictionary).
    @Test func userLinkersAddHeads() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "MESH:D001943\tBreast Neoplasms\tbreast cancer\t\n".write(toFile: "\(directory)/d.tsv", atomically: true, encoding: .utf8)
        let built = try BiotagCommand.run(["build-linker", "--task", "disease", "--dictionary", "\(directory)/d.tsv", "--licence", "test", "-o", "\(directory)/linkers"])
        #expect(built.status == 0, "\(built.stderr)")
        let found = try DefaultModelTests.linkedEntities(in: Self.text, arguments: ["--linkers", "\(directory)/linkers"])
        #expect(found.contains { $0.type == "disease" && $0.text == "breast cancer" && $0.concept == "MESH:D001943" }, "\(found)")
        let missing = try BiotagCommand.run(["annotate", "--linkers", "\(directory)/none"], stdin: Data())
        #expect(missing.status != 0 && missing.stderr.contains("no such directory"), "\(missing.stderr)")
        let contradiction = try BiotagCommand.run(["annotate", "--no-link", "--linkers", "\(directory)/linkers"], stdin: Data())
        #expect(contradiction.status != 0 && contradiction.stderr.contains("contradict"), "\(contradiction.stderr)")
    }

    /// The catalog keeps concepts: a linked value finds other names of its concept, and a new
    /// linker set re-links stored entities without the model.
    @Test func catalogSearchesByConceptAndRelinks() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = "\(directory)/c.db"
        let input = try JSONSerialization.data(withJSONObject: ["id": "d1", "text": Self.text])
        let annotated = try BiotagCommand.run(["annotate", "--quiet", "--store", store], stdin: input, workingDirectory: TestPaths.repository.path)
        #expect(annotated.status == 0, "\(annotated.stderr)")
        func search(_ query: String, _ extra: [String] = []) throws -> [String: Any] {
            let result = try BiotagCommand.run(["search", "--store", store, "--json", query] + extra, workingDirectory: TestPaths.repository.path)
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        }
        #expect(try search(#"species:"Homo sapiens""#)["total"] as? Int == 1)  // the text says "women"
        #expect(try search(#"species:"Homo sapiens""#, ["--no-link"])["total"] as? Int == 0)
        #expect(try search("species:NCBITaxon:9606")["total"] as? Int == 1)
        #expect(try search("disease:MESH:D001943")["total"] as? Int == 0)  // no disease linker yet
        try "MESH:D001943\tBreast Neoplasms\tbreast cancer\t\n".write(toFile: "\(directory)/d.tsv", atomically: true, encoding: .utf8)
        let built = try BiotagCommand.run(["build-linker", "--task", "disease", "--dictionary", "\(directory)/d.tsv", "--licence", "test", "-o", "\(directory)/linkers"])
        #expect(built.status == 0, "\(built.stderr)")
        let relinked = try BiotagCommand.run(["relink", "--store", store, "--linkers", "\(directory)/linkers"], workingDirectory: TestPaths.repository.path)
        #expect(relinked.status == 0 && relinked.output.contains("linked 1 record annotation again"), "\(relinked.output) \(relinked.stderr)")
        #expect(try search("disease:MESH:D001943")["total"] as? Int == 1)
        #expect(try search("species:NCBITaxon:9606")["total"] as? Int == 1)
    }

    /// `eval-link --data` scores the model's linkers on every gold corpus of the shared data;
    /// heads without a linker and splits that are not there say so.
    @Test func evalLinkOverTheSharedCorpora() throws {
        let result = try BiotagCommand.run(["eval-link", "--data", TestPaths.shared.appendingPathComponent("data/normalization").path, "--split", "test", "--json"], workingDirectory: TestPaths.repository.path)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        #expect(rows.map { $0["corpus"] as? String } == ["NCBI-disease", "BC5CDR Disease", "BC5CDR Chemical", "LINNAEUS", "CRAFT CL", "CRAFT UBERON", "CRAFT GO_CC"])
        #expect((rows[0]["note"] as? String)?.contains("no disease linker") == true)
        #expect((rows[1]["note"] as? String)?.contains("held back") == true)
        let linnaeus = rows[3]
        #expect(linnaeus["mentions"] as? Int == 863 && (linnaeus["accuracy_at_1"] as? Double ?? 0) > 0.5, "\(linnaeus)")
        let mixed = try BiotagCommand.run(["eval-link", "--data", TestPaths.shared.appendingPathComponent("data/normalization").path, "--index", "x.linker"])
        #expect(mixed.status != 0 && mixed.stderr.contains("--data evaluates"), "\(mixed.stderr)")
    }

    /// The shipped linkers fit their budget and open in well under a second.
    @Test func theShippedLinkersFitTheirBudget() throws {
        let linking = DefaultModelTests.directory + "/linking"
        let files = try FileManager.default.contentsOfDirectory(atPath: linking)
        let bytes = try files.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: "\(linking)/\($1)")[.size] as? Int) ?? 0) }
        #expect(bytes <= 48 << 20, "\(bytes) bytes")
        #expect(!files.contains("disease.linker"), "CTD's terms keep the disease linker out of the model")
    }
}
