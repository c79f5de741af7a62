import Foundation
import Models
import Testing
import TestSupport

/// `biotag train`, `eval` and `convert` end to end on a tiny synthetic corpus, from the small
/// cased BERT of the fixtures (two layers, so the whole run takes seconds).
@Suite struct TrainEvalCommandTests {
    static func train(_ data: String, out: String, extra: [String] = []) throws -> BiotagCommand.Result {
        try BiotagCommand.run(["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease,chemical", "--data", data,
                               "--out", out, "--epochs", "10", "--batch-size", "8", "--lr", "1e-3", "--warmup", "0",
                               "--negative-rate", "0.25", "--max-length", "32", "--json"] + extra)
    }

    @Test func trainEvaluateConvert() throws {
        let data = try SyntheticCorpora.write()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: out) }
        let trained = try Self.train(data, out: out + "/model", extra: ["--head-word-share", "0.5", "--negative-rate-for", "chemical=0.5"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stderr.contains("tokens/s") && trained.stderr.contains("ETA"))
        // Batches of 8: 0.25 gives the disease head 2 windows of the chemical corpus, 0.5 the chemical head 4.
        #expect(trained.stderr.contains("negative windows per batch: disease 2, chemical 4"), "\(trained.stderr)")
        // The disease words of the chemical corpus are not inside its entities: nothing kept.
        #expect(trained.stderr.contains("negatives for disease: 48 entity words taught O, 0 left unknown"), "\(trained.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: trained.stdout) as? [String: Any])
        #expect((summary["steps"] as? Int) == 120)

        let evaluated = try BiotagCommand.run(["eval", "--model", out + "/model", "--data", data, "--split", "test", "--confusion", "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: evaluated.stdout) as? [String: Any])
        let tasks = try #require(report["tasks"] as? [[String: Any]])
        #expect(tasks.compactMap { $0["task"] as? String } == ["disease", "chemical"])
        var f1: [String: Double] = [:]
        for task in tasks {
            let micro = try #require((task["lenient"] as? [String: Any])?["micro"] as? [String: Any])
            f1[task["task"] as! String] = micro["f1"] as? Double
            #expect((micro["f1"] as? Double ?? 0) > 0.9, "\(task)")
        }
        // Trained with negatives, neither head tags the other corpus's entities.
        let confusion = try #require(report["confusion"] as? [[String: Any]])
        #expect(confusion.count == 2)
        for cell in confusion { #expect((cell["share"] as? Double ?? 1) < 0.05, "\(cell)") }
        // Each head's total over the other corpora: here one corpus each, so its cell.
        let totals = try #require(report["confusion_totals"] as? [[String: Any]])
        #expect(totals.compactMap { $0["head"] as? String } == ["disease", "chemical"])
        for total in totals {
            let cell = try #require(confusion.first { ($0["head"] as? String) == (total["head"] as? String) })
            #expect((total["corpora"] as? [String]) == [cell["corpus"] as! String])
            #expect((total["entities"] as? Int) == (cell["entities"] as? Int) && (total["share"] as? Double) == (cell["share"] as? Double))
        }

        // --predictions: one IOB file per scored head, the corpus's words and gold labels beside the
        // predictions that were scored.
        let predicted = try BiotagCommand.run(["eval", "--model", out + "/model", "--data", data, "--split", "test", "--tasks", "disease",
                                               "--predictions", out + "/predictions"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/predictions/chemical.test.tsv"))
        let goldLines = try String(contentsOfFile: data + "/disease/test.tsv", encoding: .utf8).split(separator: "\n")
        let lines = try String(contentsOfFile: out + "/predictions/disease.test.tsv", encoding: .utf8).split(separator: "\n")
        #expect(lines.map { $0.split(separator: "\t").prefix(2).joined(separator: "\t") } == goldLines.map(String.init))
        let columns = lines.map { $0.split(separator: "\t") }
        #expect(columns.allSatisfy { $0.count == 3 })
        let diseaseCounts = try #require(((tasks[0]["lenient"] as? [String: Any])?["counts"] as? [String: Any])?["Disease"] as? [String: Any])
        #expect(columns.filter { $0[2] == "B-Disease" }.count == diseaseCounts["predicted"] as? Int)
        let unwritable = try BiotagCommand.run(["eval", "--model", out + "/model", "--data", data, "--predictions", data + "/disease/test.tsv"])
        #expect(unwritable.status != 0 && unwritable.stderr.contains("--predictions: cannot create the folder"), "\(unwritable.stderr)")

        // int8 storage: a quarter of the size, the same scores within 0.01 here.
        let converted = try BiotagCommand.run(["convert", "--model", out + "/model", "--out", out + "/int8", "--weights", "int8"])
        #expect(converted.status == 0, "\(converted.stderr)")
        let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path + "/model.safetensors")[.size] as? Int) ?? 0 }
        #expect(size(out + "/int8") * 3 < size(out + "/model"))
        let again = try BiotagCommand.run(["eval", "--model", out + "/int8", "--data", data, "--split", "test", "--json"])
        let againTasks = try #require((try JSONSerialization.jsonObject(with: again.stdout) as? [String: Any])?["tasks"] as? [[String: Any]])
        for task in againTasks {
            let micro = try #require((task["lenient"] as? [String: Any])?["micro"] as? [String: Any])
            #expect(abs((micro["f1"] as? Double ?? 0) - f1[task["task"] as! String]!) <= 0.01)
        }

        // A large bias on the disease head's O: it tags nothing; the chemical head is untouched.
        let biased = try BiotagCommand.run(["convert", "--model", out + "/model", "--out", out + "/biased", "--weights", "f32", "--label-bias", "disease:O=100"])
        #expect(biased.status == 0, "\(biased.stderr)")
        let file = try SafetensorsFile(path: out + "/biased/model.safetensors")
        #expect(file.header.metadata["biotag.label-bias"] == "disease:O=+100.0")
        let source = try SafetensorsFile(path: out + "/model/model.safetensors")
        let (before, after) = (try source.floats("heads.disease.classifier.bias").array, try file.floats("heads.disease.classifier.bias").array)
        #expect(after[0] == before[0] + 100 && after[1...] == before[1...])
        let silenced = try BiotagCommand.run(["eval", "--model", out + "/biased", "--data", data, "--split", "test", "--json"])
        let silencedTasks = try #require((try JSONSerialization.jsonObject(with: silenced.stdout) as? [String: Any])?["tasks"] as? [[String: Any]])
        for task in silencedTasks {
            let micro = try #require((task["lenient"] as? [String: Any])?["micro"] as? [String: Any])
            let name = task["task"] as! String
            #expect(micro["f1"] as? Double == (name == "disease" ? 0 : f1[name]), "\(name)")
        }
        for (bias, message) in [("gene:O=1", "has no task 'gene' (tasks: disease, chemical)"),
                                ("disease:B-Gene=1", "task 'disease' has no label 'B-Gene' (labels: O, B-Disease, I-Disease)"),
                                ("disease=1", "expected TASK:LABEL=DELTA"), ("disease:O=inf", "expected TASK:LABEL=DELTA")] {
            let bad = try BiotagCommand.run(["convert", "--model", out + "/model", "--out", out + "/bad", "--weights", "f32", "--label-bias", bias])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/bad/model.safetensors"))
        }
    }

    /// `biotag prune` end to end: importance, a pruned model recovered by distillation from the
    /// trained one, which then evaluates, quantizes with calibration and keeps only some layers;
    /// a resumed run must ask for the same pruning; a request beyond the model is refused.
    @Test func pruneRecoverEvaluate() throws {
        let data = try SyntheticCorpora.write()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-prune-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: out) }
        let trained = try Self.train(data, out: out + "/model")
        #expect(trained.status == 0, "\(trained.stderr)")
        let common = ["prune", "--model", out + "/model", "--data", data, "--out", out + "/pruned", "--importance-steps", "6",
                      "--batch-size", "8", "--max-length", "32", "--lr", "1e-3", "--warmup", "0"]
        let pruned = try BiotagCommand.run(common + ["--heads", "2", "--ffn", "128", "--head-inner", "32", "--epochs", "6"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stderr.contains("importance over 6 batches") && pruned.stderr.contains("layer 1: heads "), "\(pruned.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/pruned/pruning.json"))) as? [String: Any])
        #expect(((record["plan"] as? [String: Any])?["heads"] as? [[Int]])?.map(\.count) == [2, 2])
        let config = try EncoderConfig.load(path: out + "/pruned/config.json")
        #expect((0..<2).map(config.heads(layer:)) == [2, 2] && config.intermediateSize == 128 && config.intermediateSizes == nil)

        let evaluated = try BiotagCommand.run(["eval", "--model", out + "/pruned", "--data", data, "--split", "test", "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: evaluated.stdout) as? [String: Any])
        for task in try #require(report["tasks"] as? [[String: Any]]) {
            let micro = try #require((task["lenient"] as? [String: Any])?["micro"] as? [String: Any])
            #expect((micro["f1"] as? Double ?? 0) > 0.9, "\(task)")
        }
        let info = try BiotagCommand.run(["info", "--model", out + "/pruned"])
        let described = String(decoding: info.stdout, as: UTF8.self)
        #expect(described.contains("pruned:         heads per layer 2,2, FFN widths 128,128") && described.contains("inner 32"), "\(described)")
        let quantized = try BiotagCommand.run(["quantize", "--model", out + "/pruned", "--mode", "int8", "--out", out + "/int8",
                                               "--calibration", data + "/disease/train.tsv"])
        #expect(quantized.status == 0, "\(quantized.stderr)")
        let int8 = try BiotagCommand.run(["eval", "--model", out + "/int8", "--data", data, "--split", "test"])
        #expect(int8.status == 0, "\(int8.stderr)")
        let oneLayer = try BiotagCommand.run(["convert", "--model", out + "/pruned", "--weights", "f32", "--keep-layers", "1", "--out", out + "/one-layer"])
        #expect(oneLayer.status == 0, "\(oneLayer.stderr)")
        #expect(try EncoderConfig.load(path: out + "/one-layer/config.json").heads(layer: 0) == 2)
        _ = try MultiTaskModel(directory: out + "/one-layer")

        let other = try BiotagCommand.run(common + ["--heads", "3", "--ffn", "128", "--resume"])
        #expect(other.status != 0 && other.stderr.contains("belongs to another pruning (2 heads, 128 FFN neurons per layer, 32 inner per head"), "\(other.stderr)")
        let tooMany = try BiotagCommand.run(common + ["--heads", "5", "--ffn", "128", "--out", out + "/refused"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("--heads 5: \(out)/model has 4 heads in its smallest layer"), "\(tooMany.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/refused"))
        let overModel = try BiotagCommand.run(common.map { $0 == out + "/pruned" ? out + "/model/" : $0 } + ["--heads", "2", "--ffn", "128"])
        #expect(overModel.status != 0 && overModel.stderr.contains("is the --model directory; write the new model elsewhere"), "\(overModel.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/model/model.safetensors"))
    }

    @Test func badInputGivesOneLineErrors() throws {
        let data = try SyntheticCorpora.write()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-cli-bad-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: out) }
        try "Patients\tO\nwith\n".write(toFile: data + "/disease/train.tsv", atomically: true, encoding: .utf8)
        let malformed = try Self.train(data, out: out)
        #expect(malformed.status != 0)
        #expect(malformed.stderr.contains("disease/train.tsv:2: expected a token and a label"), "\(malformed.stderr)")

        let missing = try BiotagCommand.run(["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "nosuch", "--data", data, "--out", out])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nosuch/train.tsv"), "\(missing.stderr)")

        let share = try BiotagCommand.run(["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data, "--out", out,
                                           "--head-word-share", "0.5"])
        #expect(share.status != 0)
        #expect(share.stderr.contains("--head-word-share needs --negative-rate above 0"), "\(share.stderr)")

        for (rate, message) in [("gene=0.5", "--negative-rate-for gene=0.5: gene is not one of the heads trained (disease)"),
                                ("disease", "--negative-rate-for disease: expected TASK=RATE"),
                                ("disease=-1", "the rate must be between 0 and 4")] {
            let bad = try BiotagCommand.run(["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data,
                                             "--out", out, "--negative-rate-for", rate])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(bad.stderr)")
        }

        for (extra, message) in [("gene=x.tsv", "--extra gene=x.tsv: gene is not one of the heads trained (disease)"), ("disease", "--extra disease: expected TASK=FILE")] {
            let bad = try BiotagCommand.run(["train", "--base", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data,
                                             "--out", out, "--extra", extra])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(bad.stderr)")
        }

        // distill: a student as deep as its teacher, layers the teacher lacks, a missing teacher.
        for (arguments, message) in [(["--layers", "2"], "--layers 2: the teacher has 2 layers; a student needs fewer"),
                                     (["--keep-layers", "0,5"], "layers to keep must be distinct numbers from 0 to 1, got 0,5"),
                                     (["--keep-layers", "1,1"], "--keep-layers 1,1: expected distinct layer numbers")] {
            let bad = try BiotagCommand.run(["distill", "--teacher", TestPaths.fixture("arch/cased-bert"), "--tasks", "disease", "--data", data, "--out", out] + arguments)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains(message), "\(bad.stderr)")
        }
        let noTeacher = try BiotagCommand.run(["distill", "--teacher", out + "/none", "--data", data, "--out", out])
        #expect(noTeacher.status != 0 && noTeacher.stderr.contains("the teacher: missing model file"), "\(noTeacher.stderr)")

        // eval-relations: a gold file without relation lines, a malformed record (file:line), bad --arguments.
        try "1|t|Aspirin and asthma.\n1\t0\t7\tAspirin\tChemical\tD001241\n\n".write(toFile: out + ".none.pubtator", atomically: true, encoding: .utf8)
        try "1|t|Aspirin and asthma.\n1\tCID\tD001241\tD001249\n1\tten\t7\tAspirin\tChemical\tD001241\n\n".write(toFile: out + ".bad.pubtator", atomically: true, encoding: .utf8)
        defer { for name in [".none.pubtator", ".bad.pubtator"] { try? FileManager.default.removeItem(atPath: out + name) } }
        for (arguments, message) in [(["--gold", out + ".none.pubtator"], "\(out).none.pubtator: no CID relation lines (PMID<TAB>CID<TAB>concept<TAB>concept)"),
                                     (["--gold", out + ".bad.pubtator"], "\(out).bad.pubtator:3: expected PMID<TAB>start<TAB>end<TAB>mention<TAB>type"),
                                     (["--gold", out + ".none.pubtator", "--arguments", "chemical"], "--arguments chemical: expected two entity types")] {
            let bad = try BiotagCommand.run(["eval-relations"] + arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(bad.stderr)")
        }

        let noHead = try BiotagCommand.run(["eval", "--model", TestPaths.fixture("arch/cased-bert"), "--data", data, "--tasks", "disease"])
        #expect(noHead.status != 0)
        #expect(noHead.stderr.contains("no token head 'disease'"), "\(noHead.stderr)")
    }

    /// `biotag corpus`: a PubTator file to IOB sentences of one type, sentences of --exclude left
    /// out; a missing file or a lone --ranks is a one-line error.
    @Test func corpusWritesIOBSentences() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-corpus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let text = "5|t|Asthma in cats.\n5|a|Cats had asthma after aspirin. Nothing else.\n5\t0\t6\tAsthma\tDisease\tD001249\n"
            + "5\t25\t31\tasthma\tDisease\tD001249\n5\t38\t45\taspirin\tChemical\tD001241\n\n"
        try text.write(toFile: folder + "/c.pubtator", atomically: true, encoding: .utf8)
        try "Nothing\tO\nelse\tO\n.\tO\n\n".write(toFile: folder + "/test.tsv", atomically: true, encoding: .utf8)
        let model = TestPaths.fixture("arch/cased-bert")
        let made = try BiotagCommand.run(["corpus", "--from", folder + "/c.pubtator", "--types", "Disease", "--label", "Disease", "--model", model,
                                          "--exclude", folder + "/test.tsv", "-o", folder + "/out.tsv"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try String(contentsOfFile: folder + "/out.tsv", encoding: .utf8)
            == "Asthma\tB-Disease\nin\tO\ncats\tO\n.\tO\n\nCats\tO\nhad\tO\nasthma\tB-Disease\nafter\tO\naspirin\tO\n.\tO\n\n")
        #expect(made.stderr.contains("2 sentences (1 left out as in --exclude) from 1 documents, 2 mentions"), "\(made.stderr)")

        let missing = try BiotagCommand.run(["corpus", "--from", folder + "/none.pubtator", "--label", "Disease", "--model", model, "-o", folder + "/x.tsv"])
        #expect(missing.status != 0 && missing.stderr.contains("none.pubtator"), "\(missing.stderr)")
        let ranks = try BiotagCommand.run(["corpus", "--from", folder + "/c.pubtator", "--label", "Species", "--ranks", "species", "-o", folder + "/x.tsv"])
        #expect(ranks.status != 0 && ranks.stderr.contains("--ranks and --dictionary go together"), "\(ranks.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.tsv"))
    }
}
