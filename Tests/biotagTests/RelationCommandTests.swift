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
    static func corpus(_ count: Int) -> String { SyntheticCorpora.relationDocuments(count) }

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
        // The F1 at each of the 19 thresholds, held out and on --devel; the devel curve holds the reported F1.
        let lines = trained.output.split(separator: "\n")
        let heldCurve = try #require(lines.first { $0.hasPrefix("held-out F1 by threshold: ") })
        let develCurve = try #require(lines.first { $0.hasPrefix(corpus + " F1 by threshold: ") })
        #expect(heldCurve.split(separator: " ").count == 4 + 19 && heldCurve.contains(" 0.05:") && heldCurve.contains(" 0.95:"), "\(heldCurve)")
        let chosen = try #require(lines.first { $0.contains("(best held-out F1)") }).split(separator: " ")
        let threshold = try #require(chosen.firstIndex(of: "threshold").map { chosen[$0 + 1] })
        let develF1 = try #require(reported.split(separator: " ").last { Double($0) != nil && $0.contains(".") })
        #expect(develCurve.contains(" \(threshold):\(develF1)"), "\(develCurve) against \(reported) at \(threshold)")
        let info = try BiotagCommand.run(["info", "--model", out])
        #expect(info.output.contains("cid [relation, 1 labels, inner 8]"), "\(info.output)")

        let scored = try BiotagCommand.run(["eval-relations", "--gold", corpus, "--model", out, "--json"])
        #expect(scored.status == 0, "\(scored.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: scored.stdout) as? [String: Any])
        let relations = try #require(json["relations"] as? [String: Any])
        let f1 = try #require(relations["f1"] as? Double)
        #expect(reported.hasSuffix(String(format: "F1 %.2f (16 gold pairs)", 100 * f1)), "\(reported) against \(relations)")

        // `eval --relations` scores the same head over the same entities, beside the token heads.
        let data = try SyntheticCorpora.write()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let evaluated = try BiotagCommand.run(["eval", "--model", out, "--data", data, "--relations", corpus, "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try #require(JSONSerialization.jsonObject(with: evaluated.stdout) as? [String: Any])
        let heads = try #require(report["relations"] as? [[String: Any]])
        #expect(heads.count == 1 && heads[0]["task"] as? String == "cid" && heads[0]["type"] as? String == "CID")
        #expect((heads[0]["scores"] as? [String: Any])?["f1"] as? Double == f1, "\(heads) against \(relations)")
        #expect((report["tasks"] as? [[String: Any]])?.count == 1)
        let table = try BiotagCommand.run(["eval", "--model", out, "--data", data, "--relations", corpus])
        #expect(table.output.contains(String(format: "%6.2f\n", 100 * f1)) && table.output.contains("cid        CID"), "\(table.output)")

        try "1|t|Aspirin and asthma.\n1\t0\t7\tAspirin\tChemical\tD001241\n\n".write(toFile: folder + "/none.pubtator", atomically: true, encoding: .utf8)
        for (arguments, message) in [
            (["train-relations", "--model", out, "--train", corpus, "--out", out], "is the model directory"),
            (["train-relations", "--model", TestModels.twoHeads, "--train", folder + "/none.pubtator", "--out", folder + "/x"], "none.pubtator: no CID relation lines"),
            (["train-relations", "--model", TestModels.twoHeads, "--train", corpus, "--out", folder + "/x", "--arguments", "chemical=chemical"], "expected two role=types"),
            (["eval-relations", "--gold", corpus, "--model", TestModels.twoHeads], "has no relation head for CID"),
            (["eval-relations", "--gold", corpus, "--model", out, "--predicted", corpus], "give one of them"),
            (["eval", "--model", TestModels.twoHeads, "--data", data, "--relations", corpus], "has no relation head"),
            (["eval", "--model", out, "--data", data, "--relations", folder + "/none.pubtator"], "no CID relation lines"),
            (["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data, "--out", folder + "/x",
              "--relation", folder + "/none.pubtator"], "none.pubtator: relation 'cid': no document has a CID relation"),
            (["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data, "--out", folder + "/x",
              "--relation", corpus, "--relation-documents", "0"], "--relation-documents must be at least 1"),
        ] {
            let bad = try BiotagCommand.run(arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(!bad.stderr.contains("Fatal error"), "\(bad.stderr)")
        }
    }

    /// `train --relation` trains a relation head in the same run as the token heads: a new
    /// `cid` head from a base without one, or the base's own head, weights and widths, when it
    /// has one; the held-out F1 is among the devel scores, and the model carries the head.
    @Test func trainsARelationHeadWithTheTokenHeads() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-joint-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let data = try SyntheticCorpora.write()
        defer { try? FileManager.default.removeItem(atPath: folder); try? FileManager.default.removeItem(atPath: data) }
        let corpus = folder + "/train.pubtator"
        try Self.corpus(20).write(toFile: corpus, atomically: true, encoding: .utf8)
        func train(base: String, out: String) throws -> BiotagCommand.Result {
            try BiotagCommand.run(["train", "--base", base, "--tasks", "disease,chemical", "--data", data, "--out", out, "--epochs", "1",
                                   "--max-steps", "4", "--batch-size", "8", "--max-length", "32", "--relation", corpus, "--relation-documents", "3"])
        }
        let fresh = try train(base: TestPaths.fixture("arch/cased-bert"), out: folder + "/fresh")
        #expect(fresh.status == 0, "\(fresh.stderr)")
        #expect(fresh.stderr.contains("relation cid: 18 training documents, 2 held out"), "\(fresh.stderr)")
        #expect(fresh.stderr.contains("cid loss") && fresh.stderr.contains(" cid "), "\(fresh.stderr)")
        let info = try BiotagCommand.run(["info", "--model", folder + "/fresh"])
        #expect(info.output.contains("cid [relation, 1 labels, inner 16]"), "\(info.output)")

        // From a base with a 6-wide head (train-relations), that head goes on training.
        let headed = try BiotagCommand.run(["train-relations", "--model", folder + "/fresh", "--train", corpus, "--out", folder + "/headed",
                                            "--width", "6", "--inner", "5", "--epochs", "1"])
        #expect(headed.status == 0, "\(headed.stderr)")
        let again = try train(base: folder + "/headed", out: folder + "/again")
        #expect(again.status == 0, "\(again.stderr)")
        let model = try MultiTaskModel(directory: folder + "/again")
        guard case let .relation(head) = try #require(model.tasks.last).head else { Issue.record("no relation head last"); return }
        #expect(head.width == 6 && head.dense.outFeatures == 5)

        // A teacher with a relation head: the student learns its token heads and is told the
        // relation head is not carried (it reads an encoder that distillation changes).
        let student = try BiotagCommand.run(["distill", "--teacher", folder + "/again", "--layers", "1", "--data", data, "--out", folder + "/student",
                                             "--epochs", "1", "--max-steps", "2", "--batch-size", "8", "--max-length", "32"])
        #expect(student.status == 0, "\(student.stderr)")
        #expect(student.stderr.contains("note: the student does not carry \(folder)/again's 'cid' (relation)"), "\(student.stderr)")
        #expect(try MultiTaskModel(directory: folder + "/student").tasks.map(\.name) == ["disease", "chemical"])
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
