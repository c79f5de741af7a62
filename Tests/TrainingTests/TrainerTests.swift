import Annotation
import Foundation
import Models
import Testing
import TestSupport
import Tokenization
import Training

@Suite struct TrainerTests {
    static func trainer(data: String, output: String, settings: TrainingSettings) throws -> Trainer {
        let base = TestPaths.fixture("arch/cased-bert")
        let tokenizer = try WordPieceTokenizer.load(directory: base)
        let tasks = try ["disease", "chemical"].map { try TrainingTask.load(name: $0, directory: data, tokenizer: tokenizer, maxLength: 32, develLimit: nil) }
        let model = try TrainableModel.load(directory: base, tasks: tasks.map { TrainableModel.mlpTask(name: $0.name, labels: $0.labels) }, seed: settings.seed)
        return try Trainer(model: model, tasks: tasks, settings: settings, output: output, tokenizerDirectory: base)
    }

    static var settings: TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = 2; settings.batchSize = 8; settings.learningRate = 1e-3; settings.negativeRate = 0.25
        settings.checkpointEvery = 3; settings.evaluateEvery = 4
        return settings
    }

    /// The same seed gives the same model, and a run stopped and resumed from its checkpoint
    /// ends exactly where an uninterrupted run does.
    @Test func resumedRunEqualsUninterruptedRun() throws {
        let data = try SyntheticCorpora.write()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-train-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: scratch) }
        var settings = Self.settings
        settings.maxSteps = 7
        let straight = try Self.trainer(data: data, output: scratch + "/straight", settings: settings)
        try straight.run()
        let again = try Self.trainer(data: data, output: scratch + "/again", settings: settings)
        try again.run()
        var first = settings
        first.maxSteps = 3
        let interrupted = try Self.trainer(data: data, output: scratch + "/resumed", settings: first)
        try interrupted.run()
        let resumed = try Self.trainer(data: data, output: scratch + "/resumed", settings: settings)
        #expect(try resumed.resumeIfPossible())
        try resumed.run()
        let reference = Array(UnsafeBufferPointer(start: straight.model.store.values.pointer, count: straight.model.store.count))
        #expect(reference == Array(UnsafeBufferPointer(start: again.model.store.values.pointer, count: again.model.store.count)))
        #expect(reference == Array(UnsafeBufferPointer(start: resumed.model.store.values.pointer, count: resumed.model.store.count)))
        #expect(resumed.history.steps == 7)

        // Another run's checkpoint is refused, not silently mixed in.
        var other = settings
        other.learningRate = 2e-3
        #expect(throws: TrainingError.self) { try Self.trainer(data: data, output: scratch + "/resumed", settings: other).resumeIfPossible() }
    }

    /// A short run learns the synthetic task and writes a model directory inference loads.
    @Test func trainsAModelInferenceLoads() throws {
        let data = try SyntheticCorpora.write()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-model-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: output) }
        var settings = Self.settings
        settings.epochs = 10
        settings.warmup = 0
        let trainer = try Self.trainer(data: data, output: output, settings: settings)
        try trainer.run()
        #expect((trainer.history.bestMeanF1 ?? 0) > 0.9, "devel F1 \(trainer.history.bestMeanF1 ?? 0)")
        let model = try MultiTaskModel(directory: output)
        #expect(model.tasks.map(\.name) == ["disease", "chemical"])
    }

    /// A 1-layer student of a trained 2-layer teacher: every head learns from the teacher's soft
    /// labels (and gold, and the last hidden states), a stopped run resumes exactly, and the
    /// result is an ordinary model with one layer.
    @Test func distillationTrainsAStudentAndResumes() throws {
        let data = try SyntheticCorpora.write()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-distill-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: scratch) }
        var settings = Self.settings
        settings.epochs = 10
        settings.warmup = 0
        let teacherTrainer = try Self.trainer(data: data, output: scratch + "/teacher", settings: settings)
        try teacherTrainer.run()
        let teacher = try TrainableModel.load(directory: scratch + "/teacher", tasks: nil, seed: 0)
        #expect(teacher.layers.count == 2)

        var distillation = DistillationSettings()
        distillation.hiddenWeight = 0.5
        distillation.attentionWeight = 0.5
        settings.distillation = distillation
        settings.negativeRate = 0
        func student(_ output: String, _ settings: TrainingSettings) throws -> Trainer {
            let base = TestPaths.fixture("arch/cased-bert")
            let tokenizer = try WordPieceTokenizer.load(directory: base)
            let tasks = try ["disease", "chemical"].map { try TrainingTask.load(name: $0, directory: data, tokenizer: tokenizer, maxLength: 32, develLimit: nil) }
            return try Trainer(model: teacher.keepingLayers([1], heads: ["disease", "chemical"]), tasks: tasks, settings: settings, output: output,
                               tokenizerDirectory: base, teacher: teacher)
        }
        var short = settings
        short.maxSteps = 6
        let straight = try student(scratch + "/straight", short)
        try straight.run()
        short.maxSteps = 3
        let interrupted = try student(scratch + "/resumed", short)
        try interrupted.run()
        short.maxSteps = 6
        let resumed = try student(scratch + "/resumed", short)
        #expect(try resumed.resumeIfPossible())
        try resumed.run()
        #expect(Array(UnsafeBufferPointer(start: straight.model.store.values.pointer, count: straight.model.store.count))
            == Array(UnsafeBufferPointer(start: resumed.model.store.values.pointer, count: resumed.model.store.count)))

        let full = try student(scratch + "/student", settings)
        try full.run()
        #expect((full.history.bestMeanF1 ?? 0) > 0.9, "devel F1 \(full.history.bestMeanF1 ?? 0)")
        let model = try MultiTaskModel(directory: scratch + "/student")
        #expect(model.config.layers == 1 && model.tasks.map(\.name) == ["disease", "chemical"])

        // A student whose heads the teacher does not have is refused.
        let tokenizer = try WordPieceTokenizer.load(directory: TestPaths.fixture("arch/cased-bert"))
        let other = try TrainingTask.load(name: "disease", directory: data, tokenizer: tokenizer, maxLength: 32, develLimit: nil)
        let renamed = try TrainableModel.load(directory: TestPaths.fixture("arch/cased-bert"), tasks: [TrainableModel.mlpTask(name: "gene", labels: other.labels)], seed: 1)
        #expect(throws: TrainingError.self) {
            try Trainer(model: renamed, tasks: [other], settings: settings, output: scratch + "/refused", tokenizerDirectory: scratch, teacher: teacher)
        }
        // So is attention-map matching with fewer heads than the teacher's.
        let fewerHeads = try teacher.keepingLayers([1], heads: ["disease"]).pruned(PruningPlan(heads: [[0, 1]], neurons: [Array(0..<512)]))
        do {
            _ = try Trainer(model: fewerHeads, tasks: [other], settings: settings, output: scratch + "/refused", tokenizerDirectory: scratch, teacher: teacher)
            Issue.record("a student with fewer attention heads was accepted")
        } catch { #expect(error.description.contains("attention-map matching needs the teacher's attention heads")) }
    }

    /// The relation task of `SyntheticCorpora.relationDocuments`: a new 4-wide CID head.
    static func relationTask(documents count: Int, folder: String) throws -> RelationTask {
        let path = folder + "/cid.pubtator"
        try SyntheticCorpora.relationDocuments(count).write(toFile: path, atomically: true, encoding: .utf8)
        var reader = try makeReader(format: .pubtator, path: path)
        var documents: [Document] = []
        while let item = try reader.next() { if case let .document(document) = item { documents.append(document) } }
        let base = TestPaths.fixture("arch/cased-bert")
        var options = RelationTrainingOptions()
        options.width = 4; options.inner = 4
        let features = RelationFeature.allCases
        let head = RelationTrainer(hidden: try EncoderConfig.load(path: base + "/config.json").hiddenSize, features: features.count, options: options)
        return try RelationTask(name: "cid", type: "CID", arguments: [RelationArgument(role: "chemical", types: ["chemical"]), RelationArgument(role: "disease", types: ["disease"])],
                                features: features, documents: documents, tokenizer: WordPieceTokenizer.load(directory: base), maxPieces: 30, head: head, seed: 13)
    }

    /// A relation head trains in the same run as the token heads: its loss reaches the encoder
    /// (the encoder ends elsewhere than without it), a run stopped and resumed ends exactly where
    /// an uninterrupted one does (the head's weights and optimizer are in the checkpoint), its
    /// held-out F1 is among the devel scores, and the saved model carries the head that
    /// inference runs, at the threshold chosen.
    @Test func relationHeadTrainsWithTheEncoderAndResumes() throws {
        let data = try SyntheticCorpora.write()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-joint-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: scratch) }
        func trainer(_ output: String, steps: Int, relation: Bool = true, clipSeparately: Bool? = nil, maxNorm: Double = 1) throws -> (Trainer, RelationTask?) {
            let base = TestPaths.fixture("arch/cased-bert")
            let tokenizer = try WordPieceTokenizer.load(directory: base)
            let tasks = try ["disease", "chemical"].map { try TrainingTask.load(name: $0, directory: data, tokenizer: tokenizer, maxLength: 32, develLimit: nil) }
            let model = try TrainableModel.load(directory: base, tasks: tasks.map { TrainableModel.mlpTask(name: $0.name, labels: $0.labels) }, seed: 13)
            var settings = Self.settings
            settings.maxSteps = steps
            settings.maxGradientNorm = maxNorm
            var task: RelationTask?
            if relation {
                var joint = RelationJointSettings()
                joint.documentsPerStep = 3
                joint.clipSeparately = clipSeparately
                settings.relation = joint
                task = try Self.relationTask(documents: 20, folder: scratch)
            }
            return (try Trainer(model: model, tasks: tasks, settings: settings, output: scratch + "/" + output, tokenizerDirectory: base, relation: task), task)
        }
        let (straight, head) = try trainer("straight", steps: 7)
        try straight.run()
        let (interrupted, _) = try trainer("resumed", steps: 3)
        try interrupted.run()
        let (resumed, resumedHead) = try trainer("resumed", steps: 7)
        #expect(try resumed.resumeIfPossible())
        try resumed.run()
        // By the largest difference: a failed comparison of two arrays would have the test library diff 10⁵ values.
        func largestDifference(_ a: ParameterStore, _ b: ParameterStore) -> Float {
            (0..<a.count).reduce(0) { max($0, abs(a.values.pointer[$1] - b.values.pointer[$1])) }
        }
        #expect(largestDifference(straight.model.store, resumed.model.store) == 0)
        #expect(largestDifference(try #require(head).head.store, try #require(resumedHead).head.store) == 0)
        let (alone, _) = try trainer("alone", steps: 7, relation: false)
        try alone.run()
        #expect(largestDifference(alone.model.store, straight.model.store) > 0)
        // With a norm small enough that every step clips, clipping the two gradients apart
        // takes other steps than clipping their sum; stopped and resumed, it ends where an
        // uninterrupted run does.
        let (together, _) = try trainer("together", steps: 7, maxNorm: 0.01)
        try together.run()
        let (apart, _) = try trainer("apart", steps: 7, clipSeparately: true, maxNorm: 0.01)
        try apart.run()
        #expect(largestDifference(apart.model.store, together.model.store) > 0)
        let (apartStopped, _) = try trainer("apart-resumed", steps: 3, clipSeparately: true, maxNorm: 0.01)
        try apartStopped.run()
        let (apartResumed, _) = try trainer("apart-resumed", steps: 7, clipSeparately: true, maxNorm: 0.01)
        #expect(try apartResumed.resumeIfPossible())
        try apartResumed.run()
        #expect(largestDifference(apart.model.store, apartResumed.model.store) == 0)
        #expect(straight.history.evaluations.allSatisfy { $0.develF1["cid"] != nil && $0.develF1.count == 3 })

        let model = try MultiTaskModel(directory: scratch + "/straight")
        #expect(model.tasks.map(\.name) == ["disease", "chemical", "cid"])
        let spec = try #require(model.tasks.last?.spec)
        #expect(spec.kind == .relation && spec.threshold != nil && spec.arguments?.map(\.role) == ["chemical", "disease"])

        // A relation task whose head is named like a token head is refused.
        let base = TestPaths.fixture("arch/cased-bert")
        let tokenizer = try WordPieceTokenizer.load(directory: base)
        let tasks = try ["disease"].map { try TrainingTask.load(name: $0, directory: data, tokenizer: tokenizer, maxLength: 32, develLimit: nil) }
        let clash = try RelationTask(name: "disease", type: "CID", arguments: head!.arguments, features: head!.features, documents: head!.train.map(\.document),
                                     tokenizer: tokenizer, maxPieces: 30, head: head!.head, seed: 1)
        var settings = Self.settings
        settings.relation = RelationJointSettings()
        #expect(throws: TrainingError.self) {
            try Trainer(model: TrainableModel.load(directory: base, tasks: [TrainableModel.mlpTask(name: "disease", labels: tasks[0].labels)], seed: 1),
                        tasks: tasks, settings: settings, output: scratch + "/clash", tokenizerDirectory: base, relation: clash)
        }
    }

    @Test func confusionCountsFullAndPartialHits() {
        let gold = [LabelledSentence(words: ["a", "b", "c", "d", "e"], labels: ["B-Chemical", "I-Chemical", "O", "B-Chemical", "B-Chemical"], line: 1)]
        let cell = ConfusionCell(head: "disease", corpus: "chemical", gold: gold, predicted: [["B-Disease", "I-Disease", "B-Disease", "O", "I-Disease"]])
        #expect(cell.entities == 3 && cell.full == 2 && cell.partial == 0)
        let partly = ConfusionCell(head: "disease", corpus: "chemical", gold: gold, predicted: [["O", "B-Disease", "O", "O", "O"]])
        #expect(partly.entities == 3 && partly.full == 0 && partly.partial == 1)
        #expect(abs(partly.share - 1.0 / 3.0) < 1e-12)
    }

    /// A head's total adds up its cells over the other corpora, leaving out the types it
    /// legitimately overlaps with (cell and cell_type).
    @Test func confusionTotalsLeaveOutOverlappingTypes() {
        let chemical = [LabelledSentence(words: ["a", "b", "c"], labels: ["B-Chemical", "O", "B-Chemical"], line: 1)]
        let disease = [LabelledSentence(words: ["a", "b"], labels: ["B-Disease", "I-Disease"], line: 1)]
        let cellType = [LabelledSentence(words: ["a"], labels: ["B-CL"], line: 1)]
        let cells = [ConfusionCell(head: "cell", corpus: "chemical", gold: chemical, predicted: [["B-Cell", "O", "O"]]),
                     ConfusionCell(head: "cell", corpus: "disease", gold: disease, predicted: [["O", "O"]]),
                     ConfusionCell(head: "cell", corpus: "cell_type", gold: cellType, predicted: [["B-Cell"]]),
                     ConfusionCell(head: "disease", corpus: "chemical", gold: chemical, predicted: [["O", "O", "B-Disease"]])]
        let totals = ConfusionTotal.totals(cells, heads: ["disease", "cell", "species"])
        #expect(totals.map(\.head) == ["disease", "cell"])
        #expect(totals[1].corpora == ["chemical", "disease"] && totals[1].entities == 3 && totals[1].tagged == 1)
        #expect(abs(totals[1].share - 1.0 / 3.0) < 1e-12)
        #expect(totals[0].entities == 2 && totals[0].tagged == 1 && totals[0].share == 0.5)
    }
}
