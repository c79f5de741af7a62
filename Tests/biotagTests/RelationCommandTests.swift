import Annotation
import Foundation
import Models
import Testing
import TestSupport

/// Gives every chemical and disease the concept its text names, the way a linker would.
struct TextConcepts: EntityLinking {
    func link(_ documents: [Document]) -> [Document] {
        documents.map { document in
            var linked = document
            for p in linked.passages.indices {
                for e in linked.passages[p].entities.indices {
                    let entity = linked.passages[p].entities[e]
                    linked.passages[p].entities[e].concepts = [ConceptReference(id: "T:" + entity.text.lowercased(), name: entity.text)]
                }
            }
            return linked
        }
    }
}

struct RelationCommandTests {
    /// PubTator documents written for these tests: a title naming a chemical and a disease,
    /// then an abstract; the pair is CID when the title says the chemical induced the disease.
    static func corpus(_ count: Int) -> String {
        let chemicals = ["cisplatin", "lithium", "haloperidol", "aspirin", "cocaine", "nicotine"]
        let diseases = ["nephrotoxicity", "tremor", "catalepsy", "asthma", "seizures", "hypertension"]
        var text = ""
        for index in 0..<count {
            let chemical = chemicals[index % chemicals.count], disease = diseases[(index / 2) % diseases.count]
            let induced = index % 3 != 0
            let title = induced ? "\(chemical.capitalized) induced \(disease) in rats" : "\(chemical.capitalized) did not change \(disease) in rats"
            let abstract = "We gave \(chemical) to rats for a week. Later \(disease) was measured in every animal."
            let id = 1000 + index
            text += "\(id)|t|\(title)\n\(id)|a|\(abstract)\n"
            var mentions: [(Int, String, String)] = [(0, chemical.capitalized, "Chemical"), (title.range(of: disease)!.lowerBound.utf16Offset(in: title), disease, "Disease")]
            let shift = title.count + 1
            mentions.append((shift + abstract.range(of: chemical)!.lowerBound.utf16Offset(in: abstract), chemical, "Chemical"))
            mentions.append((shift + abstract.range(of: disease)!.lowerBound.utf16Offset(in: abstract), disease, "Disease"))
            for (start, mention, type) in mentions {
                text += "\(id)\t\(start)\t\(start + mention.count)\t\(mention)\t\(type)\tD\(type == "Chemical" ? "1" : "2")\(mention.lowercased().count)\(mention.lowercased().first!.asciiValue!)\n"
            }
            if induced {
                text += "\(id)\tCID\tD1\(chemical.count)\(chemical.first!.asciiValue!)\tD2\(disease.count)\(disease.first!.asciiValue!)\n"
            }
            text += "\n"
        }
        return text
    }

    /// `train-relations` adds a relation head to a copy of the model (listed by `info`); scored
    /// over gold entities by `eval-relations --model`, the head finds what train-relations
    /// reported; the refusals are one-line errors.
    @Test func trainScoreAndRefuse() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-relations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let corpus = folder + "/train.pubtator", out = folder + "/with-cid"
        try Self.corpus(24).write(toFile: corpus, atomically: true, encoding: .utf8)
        let trained = try BiotagCommand.run(["train-relations", "--model", TestModels.twoHeads, "--train", corpus, "--devel", corpus, "--out", out,
                                             "--width", "8", "--inner", "8", "--epochs", "4"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.output.contains("24 documents, 24 candidate pairs, 16 of them CID"), "\(trained.output)")
        let reported = try #require(trained.output.split(separator: "\n").first { $0.contains("with its gold entities") })
        let info = try BiotagCommand.run(["info", "--model", out])
        #expect(info.output.contains("cid [relation, 1 labels, inner 8]"), "\(info.output)")

        let scored = try BiotagCommand.run(["eval-relations", "--gold", corpus, "--model", out, "--json"])
        #expect(scored.status == 0, "\(scored.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: scored.stdout) as? [String: Any])
        let relations = try #require(json["relations"] as? [String: Any])
        let f1 = try #require(relations["f1"] as? Double)
        #expect(reported.hasSuffix(String(format: "F1 %.2f (16 gold pairs)", 100 * f1)), "\(reported) against \(relations)")

        try "1|t|Aspirin and asthma.\n1\t0\t7\tAspirin\tChemical\tD001241\n\n".write(toFile: folder + "/none.pubtator", atomically: true, encoding: .utf8)
        for (arguments, message) in [
            (["train-relations", "--model", out, "--train", corpus, "--out", out], "is the model directory"),
            (["train-relations", "--model", TestModels.twoHeads, "--train", folder + "/none.pubtator", "--out", folder + "/x"], "none.pubtator: no CID relation lines"),
            (["train-relations", "--model", TestModels.twoHeads, "--train", corpus, "--out", folder + "/x", "--arguments", "chemical=chemical"], "expected two role=types"),
            (["eval-relations", "--gold", corpus, "--model", TestModels.twoHeads], "has no relation head for CID"),
            (["eval-relations", "--gold", corpus, "--model", out, "--predicted", corpus], "give one of them"),
        ] {
            let bad = try BiotagCommand.run(arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(!bad.stderr.contains("Fatal error"), "\(bad.stderr)")
        }
    }

    /// The relation head runs on the annotation pass: each token's projection is the head's
    /// linear map of its hidden state, and `annotate(linking:)` finds the relations that the
    /// head finds over the linked entities on their own.
    @Test func relationsRideTheAnnotationPass() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-relations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.corpus(12).write(toFile: folder + "/train.pubtator", atomically: true, encoding: .utf8)
        // Every entity of the untrained test model fills both roles, so that pairs exist.
        let trained = try BiotagCommand.run(["train-relations", "--model", TestModels.twoHeads, "--train", folder + "/train.pubtator", "--out", folder + "/m",
                                             "--width", "6", "--inner", "4", "--epochs", "2", "--arguments", "chemical=chemical|disease|gene,disease=disease|chemical"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let model = try MultiTaskModel(directory: folder + "/m")
        let annotator = try Annotator(model: model, threads: 1, workers: 1)
        defer { annotator.shutdown() }
        let head = try #require(annotator.relationHeads.first).head
        #expect(head.type == "CID" && head.width == 6 && head.threshold > 0 && head.threshold < 1)
        let documents = [Document(id: "a", passages: Passage.fields([("title", "Lithium induced tremor in rats"), ("abstract", "Cocaine and aspirin. Seizures followed asthma.")])),
                         Document(id: "b", text: "Haloperidol induced catalepsy and nephrotoxicity after cisplatin.")]
        let hidden = try annotator.tokens(documents, vectors: .hidden), projected = try annotator.tokens(documents, vectors: .relation("cid"))
        var compared = 0
        for (h, p) in zip(hidden, projected) {
            #expect(h.sentences.map(\.offsets) == p.sentences.map(\.offsets))
            for (hs, ps) in zip(h.sentences, p.sentences) {
                for t in hs.offsets.indices {
                    for o in 0..<6 {
                        var sum = head.projection.bias![o]
                        for i in 0..<h.width { sum += head.projection.weight[o * h.width + i] * hs.vectors[t * h.width + i] }
                        #expect(abs(sum - ps.vectors[t * 6 + o]) < 1e-3 * max(1, abs(sum)))
                        compared += 1
                    }
                }
            }
        }
        #expect(compared > 100)
        let annotated = try annotator.annotate(documents, linking: TextConcepts())
        let expected = zip(annotated, projected).map { RelationExtraction.relations(in: $0, tokens: $1, head: head) }
        #expect(annotated.map(\.relations) == expected)
        let candidates = zip(annotated, projected).map { RelationExtraction.candidates(in: $0, tokens: $1, arguments: head.arguments, features: head.features).count }
        #expect(candidates.reduce(0, +) > 0, "no candidate pairs: \(annotated.map(\.passages))")
        // Without linking there are no concepts, and no relations.
        #expect(try annotator.annotate(documents).allSatisfy(\.relations.isEmpty))
    }
}
