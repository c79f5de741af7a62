import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct TrainRelations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-relations",
        abstract: "Add a document-level relation head (BioCreative V CID) to a model, trained on its frozen encoder.",
        discussion: """
            Every (chemical concept, disease concept) pair of a training document's gold entities is a candidate; the \
            relation lines of --train say which hold. The head reads the encoder's last hidden states from the same pass \
            as the token heads: a projection of every token, mentions as the mean of their tokens, concepts as the max \
            over their mentions, then an MLP over the pair and a few document features (docs/RELATIONS.md). The encoder \
            and the token heads are left as they are. A tenth of --train is held out to choose the epoch and the \
            decision threshold. The model is copied to --out with the head added (a head of the same name is replaced).
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "PubTator file of training documents: entities with concept ids and relation lines.")
    var train: String

    @Option(help: "PubTator file scored at the end with its gold entities (e.g. BC5CDR devel).")
    var devel: String?

    @Option(help: "Directory to write the model with the relation head to.")
    var out: String

    @Option(help: "The head's name in tasks.json.")
    var name = "cid"

    @Option(help: "Relation type, as the relation lines name it.")
    var type = "CID"

    @Option(help: ArgumentHelp("The two arguments, role=entity types (|-separated), comma-separated.", valueName: "role=types,role=types"))
    var arguments = "chemical=chemical,disease=disease"

    @Option(help: "Width of each token's projection (16 scored best of 16, 64 and 128 on BC5CDR devel: docs/RELATIONS.md).")
    var width = 16

    @Option(help: "Inner width of the pair MLP.")
    var inner = 16

    @Option(help: "Epochs over the training documents.")
    var epochs = 30

    @Option(help: "Peak learning rate (AdamW, linear decay).")
    var learningRate = 1e-3

    @Option(help: "Dropout on the pair MLP's input while training.")
    var dropout: Float = 0.1

    @Option(help: "AdamW weight decay.")
    var weightDecay = 0.01

    @Option(help: "Random seed (initialisation, order, dropout, held-out documents).")
    var seed: UInt64 = 13

    @Option(help: ArgumentHelp("Storage of the head's weight matrices (biases stay fp32).", valueName: "f32|f16|int8|int8-g32"))
    var weights: WeightStorage = .f32

    @Option(name: .customLong("weights-for"), help: ArgumentHelp("Another storage for the head's weights whose name contains PART, e.g. projection=int8-g32 (repeatable).",
                                                                 valueName: "PART=FORM"))
    var weightsFor: [String] = []

    @Option(help: ArgumentHelp("Version the output model in its tasks.json (annotation runs record it).", valueName: "version"))
    var modelVersion: String?

    @OptionGroup var runtime: RuntimeOptions

    func parsedArguments() throws(ValidationError) -> [RelationArgument] {
        let parts = commaList(arguments)
        guard parts.count == 2 else { throw ValidationError("--arguments \(arguments): expected two role=types, e.g. chemical=chemical,disease=disease") }
        return try parts.map { part throws(ValidationError) in
            let (role, types) = try keyValue(part, option: "--arguments", form: "role=types", example: "chemical=chemical")
            let list = types.split(separator: "|").map(String.init).filter { !$0.isEmpty }
            guard !list.isEmpty else { throw ValidationError("--arguments: '\(part)' names no entity type") }
            return RelationArgument(role: role, types: list)
        }
    }

    func validate() throws {
        _ = try parsedArguments()
        guard width >= 1, inner >= 1, epochs >= 1 else { throw ValidationError("--width, --inner and --epochs must be at least 1") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must lie in [0, 1), got \(dropout)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
        for text in weightsFor where StoragePlan.rule(text) == nil {
            throw ValidationError("--weights-for \(text): expected PART=FORM with FORM one of \(WeightStorage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// A PubTator file's documents as the head trains on them: candidates from the gold entities.
    static func documents(_ path: String, annotator: Annotator, type: String, arguments: [RelationArgument],
                          features: [RelationFeature]) throws -> [RelationDocument] {
        let documents = try EvalRelations.read(path)
        guard documents.contains(where: { $0.relations.contains { $0.type == type } }) else {
            throw CommandError("\(path): no \(type) relation lines (PMID<TAB>\(type)<TAB>concept<TAB>concept)")
        }
        let tokens: [DocumentTokens]
        do { tokens = try annotator.tokens(documents, vectors: .hidden) } catch { throw CommandError("\(path): \(error)") }
        return zip(documents, tokens).map { document, tokens in
            let candidates = RelationExtraction.candidates(in: document, tokens: tokens, arguments: arguments, features: features)
            let gold = RelationPairs.relations(of: document, type: type)
            let labels = candidates.map { gold.contains([RelationPairs.normalized($0.first), RelationPairs.normalized($0.second)]) }
            return RelationDocument(candidates: candidates, tokens: tokens, labels: labels, unreachable: gold.count - labels.filter { $0 }.count)
        }
    }

    func run() throws {
        let roles = try parsedArguments()
        let directory = model.directory
        let resolved = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard resolved(directory) != resolved(out) else { throw CommandError("--out \(out) is the model directory; write the model with the head elsewhere") }
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: directory) } catch { throw CommandError(error.description) }
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        let annotator: Annotator
        do { annotator = try Annotator(model: loaded, threads: threads, workers: workers) } catch { throw CommandError("\(error)") }
        defer { annotator.shutdown() }
        let features = RelationFeature.allCases
        var started = ContinuousClock.now
        let all = try Self.documents(train, annotator: annotator, type: type, arguments: roles, features: features)
        let develDocuments = try devel.map { try Self.documents($0, annotator: annotator, type: type, arguments: roles, features: features) }
        let pairs = all.reduce(0) { $0 + $1.candidates.count }, positive = all.reduce(0) { $0 + $1.labels.filter { $0 }.count }
        print("\(train): \(all.count) documents, \(pairs) candidate pairs, \(positive) of them \(type); hidden states in \(seconds(since: started))")
        guard positive > 0 else { throw CommandError("\(train): no \(type) pair is a candidate (do its entities carry the relations' concept ids?)") }
        var options = RelationTrainingOptions()
        options.width = width; options.inner = inner; options.epochs = epochs; options.learningRate = learningRate; options.seed = seed
        options.dropout = dropout; options.weightDecay = weightDecay
        // Every tenth document, in a seeded order, is held out.
        var generator = SplitMix64(seed: seed)
        let shuffled = Array(all.indices).shuffled(using: &generator)
        let heldOutIndices = Set(shuffled.prefix(max(1, all.count / 10)))
        let trainer = RelationTrainer(hidden: loaded.config.hiddenSize, features: features.count, options: options)
        started = ContinuousClock.now
        let heldOut = heldOutIndices.sorted().map { all[$0] }
        let held = trainer.train(all.indices.filter { !heldOutIndices.contains($0) }.map { all[$0] }, heldOut: heldOut) { print($0) }
        print("trained in \(seconds(since: started)); threshold \(String(format: "%.2f", held.threshold)) (best held-out F1)")
        print("held-out F1 by threshold: " + trainer.curve(heldOut).f1ByThreshold)
        if let develDocuments, let devel {
            // One pass over devel: the held-out threshold is one of the curve's.
            let curve = trainer.curve(develDocuments)
            let score = (curve.first { $0.threshold == held.threshold } ?? trainer.score(develDocuments, threshold: held.threshold)).score
            print(String(format: "%@ with its gold entities: P %.2f R %.2f F1 %.2f (%d gold pairs)", devel, 100 * score.precision, 100 * score.recall,
                         100 * score.f1, score.gold))
            print("\(devel) F1 by threshold: " + curve.f1ByThreshold)
        }
        try write(loaded, head: trainer, arguments: roles, features: features, threshold: held.threshold)
        print("wrote \(out)")
    }

    private func seconds(since start: ContinuousClock.Instant) -> String { String(format: "%.1f s", (ContinuousClock.now - start).seconds) }

    /// The model's files with the head's tensors and task added.
    private func write(_ loaded: MultiTaskModel, head trainer: RelationTrainer, arguments: [RelationArgument], features: [RelationFeature], threshold: Double) throws {
        let prefix = "heads.\(name)"
        let source: (tensors: [TensorRecord], metadata: [String: String], path: String)
        do { source = try ModelRewrite.tensors(of: loaded.directory, widen: { _ in false }) } catch { throw CommandError("\(error)") }
        let plan = StoragePlan(default: weights, rules: weightsFor.compactMap(StoragePlan.rule))
        let tensors = source.tensors.filter { !$0.name.hasPrefix(prefix + ".") } + plan.convert(trainer.records(prefix: prefix))
        do { _ = try ModelRewrite.write(tensors, metadata: source.metadata, from: loaded.directory, to: out, source: source.path) } catch {
            throw CommandError("\(error)")
        }
        var file = TaskFile(tasks: loaded.tasks.map(\.spec).filter { $0.name != name }, name: loaded.name, modelVersion: modelVersion ?? loaded.version)
        file.tasks.append(trainer.spec(name: name, type: type, arguments: arguments, features: features, threshold: threshold))
        let path = (out as NSString).appendingPathComponent("tasks.json")
        do { try file.write(to: path) } catch { throw CommandError("cannot write \(path): \(error.localizedDescription)") }
    }
}
