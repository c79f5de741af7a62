import Annotation
import ArgumentParser
import Catalog
import CommandLineSupport
import Foundation
import Linking
import Models
import Training

extension LinkStage: ExpressibleByArgument {}

/// Concept dictionaries and the training corpora whose mentions join them.
struct DictionaryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Concept dictionary (id, name, synonyms, extras; tab-separated), e.g. ../shared/data/normalization/dictionaries/disease.tsv; repeat to merge several.", valueName: "file"))
    var dictionary: [String] = []

    @Option(name: .customLong("train"), help: ArgumentHelp("A corpus with ids (PubTator, or standoff table:split) whose gold mentions become synonyms of their concepts (repeatable; never the split evaluated).", valueName: "file"))
    var training: [String] = []

    @Flag(help: "The dictionaries' 4th column does not hold other ids of the same concept (chemical.tsv: the headings a supplementary record is mapped to; cell_line.tsv: the species), so it must not count as the concept's ids.")
    var ignoreExtras = false

    /// The dictionaries merged, with the training corpora's mentions added.
    func load() throws -> ConceptDictionary {
        guard !dictionary.isEmpty else { throw CommandError("give at least one --dictionary") }
        do {
            let corpora = try training.map { path throws(DictionaryError) in try LinkingCorpus.load(specification: path) }
            let dictionaries = try dictionary.map { path throws(DictionaryError) in try ConceptDictionary.load(path: path, extrasAreIds: !ignoreExtras) }
            return try ConceptDictionary.merged(dictionaries).addingSynonyms(from: corpora)
        } catch { throw CommandError(error.description) }
    }
}

/// Where a linking command's concepts come from: dictionaries compiled on the spot, or an index
/// `biotag build-linker` wrote.
struct LinkerOptions: ParsableArguments {
    @OptionGroup var source: DictionaryOptions

    @Option(help: ArgumentHelp("A compiled linker index (`biotag build-linker`), instead of --dictionary.", valueName: "file"))
    var index: String?

    @Option(help: ArgumentHelp("Stages to run, comma-separated: exact (normalized lookup), abbreviation (short forms the document defines), composite (coordinations split: \"breast and ovarian cancer\"), ngram (character 3-gram TF-IDF).", valueName: "names"))
    var stages: String = LinkStage.allCases.map(\.rawValue).joined(separator: ",")

    func validate() throws {
        for name in commaList(stages) where LinkStage(rawValue: name) == nil {
            throw ValidationError("--stages: unknown stage '\(name)' (\(LinkStage.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard source.dictionary.isEmpty || index == nil else { throw ValidationError("give either --dictionary (one or more) or --index, not both") }
        guard (source.training.isEmpty && !source.ignoreExtras) || index == nil else {
            throw ValidationError("--train and --ignore-extras read dictionaries; an --index has them compiled in already")
        }
    }

    var chosenStages: Set<LinkStage> { Set(commaList(stages).compactMap(LinkStage.init(rawValue:))) }

    func loadDictionary() throws -> ConceptDictionary { try source.load() }

    /// Whether a dictionary or an index was given.
    var isGiven: Bool { !source.dictionary.isEmpty || index != nil }

    func loadIndex() throws -> LinkerIndex {
        guard isGiven else { throw CommandError("give a dictionary (--dictionary FILE) or an index (--index FILE)") }
        do {
            if let index { return try LinkerIndex(path: index) }
            let dictionary = try loadDictionary()
            return try LinkerIndex(bytes: LinkerIndexBuilder.build(dictionary), source: dictionary.source)
        } catch let error as LinkerIndexError { throw CommandError(error.description) }
    }

    var sourceName: String { index ?? source.dictionary.joined(separator: "+") }
}

struct Link: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link mentions to the concepts of a dictionary.",
        discussion: """
            Reads JSON lines {"text": mention, "context": optional document text} on stdin and writes, per line, \
            {"text", "concepts": [{"id", "name", "score", "stage"}]}, best first, and for a composite mention \
            ("breast and ovarian cancer") "parts": one such list per concept it names. The context's abbreviations \
            ("Duchenne muscular dystrophy (DMD)") are resolved. The answer depends on the input and the dictionary only.
            """)

    @OptionGroup var linking: LinkerOptions

    @Option(help: "Candidates per mention.")
    var top: Int = 5

    func validate() throws {
        guard (1...100).contains(top) else { throw ValidationError("--top must be between 1 and 100, got \(top)") }
    }

    func run() throws {
        let linker = Linker(index: try linking.loadIndex(), stages: linking.chosenStages)
        var reader = try TextLines(path: "-")
        let output = FileHandle.standardOutput
        while let line = try reader.nextLine() {
            let record = try TextLines.object(of: line, lineNumber: reader.lineNumber)
            let mention = try TextLines.string("text", of: record, lineNumber: reader.lineNumber)
            let context = record["context"] as? String ?? ""
            let parts = linker.link(mention, abbreviations: Abbreviations(text: context), top: top)
            let data = try JSONSerialization.data(withJSONObject: linkAnswerObject(text: mention, parts: parts), options: [.sortedKeys, .withoutEscapingSlashes])
            output.write(data + Data("\n".utf8))
        }
    }
}

struct BuildLinker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-linker",
        abstract: "Compile dictionaries into a linker index for one head, in a linker directory.",
        discussion: """
            Writes DIR/<task>.linker, an index used in place through a memory mapping (normalized exact lookup and \
            character 3-gram TF-IDF), and records it in DIR/linkers.json with its sources and licence. \
            `biotag annotate` links each head's entities with the linkers of the model's linking/ directory and of \
            --linkers directories. `make linkers` builds the model's own from the dictionaries whose terms allow \
            shipping them.
            """)

    @Option(help: ArgumentHelp("The head whose entities this linker links (disease, chemical, cell, ...).", valueName: "name"))
    var task: String

    @OptionGroup var source: DictionaryOptions

    @Option(help: ArgumentHelp("Among concepts a term names equally, those with this value in the 4th column come first (species: the rank, so \"pig\" is Sus scrofa before the family Suidae).", valueName: "value"))
    var prefer: String?

    @Option(help: ArgumentHelp("Concepts whose id starts with this prefix are found by exact lookup only, their terms left out of the 3-gram index (repeatable; e.g. MESH:C for MeSH's 250,000 supplementary chemical records, which would make the index ten times larger and slower).", valueName: "prefix"))
    var exactOnly: [String] = []

    @Option(help: ArgumentHelp("Also give the linker a dense stage: this encoder (a model directory, e.g. all-MiniLM-L6-v2 as `biotag fetch-model minilm` fetches it, or one `biotag train-linker` wrote) embeds every term now and each unlinked mention at annotation; its cosine replaces the 3-gram similarity.", valueName: "dir"))
    var denseEncoder: String?

    @Option(help: ArgumentHelp("The sources' licences or terms, recorded in the manifest.", valueName: "text"))
    var licence: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The linker directory (created if missing).", valueName: "dir"))
    var output: String

    func validate() throws {
        guard !source.dictionary.isEmpty else { throw ValidationError("give at least one --dictionary") }
        guard !task.isEmpty, task.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw ValidationError("--task must be a head name (letters, digits, _ and -), got '\(task)'")
        }
    }

    func run() throws {
        let started = ContinuousClock.now
        let dictionary = try source.load()
        let bytes: [UInt8]
        do { bytes = try LinkerIndexBuilder.build(dictionary, exactOnly: exactOnly, preferring: prefer) } catch { throw CommandError(error.description) }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let file = task + ".linker"
            try Data(bytes).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent(file)), options: .atomic)
            var dense: String?, encoderPath: String?
            if let denseEncoder {
                let encoder = try TermEncoder(directory: denseEncoder, workers: 2)
                defer { encoder.shutdown() }
                dense = task + ".dense"
                try DenseTerms(dictionary: dictionary, encoder: encoder).write(to: (output as NSString).appendingPathComponent(dense!))
                encoderPath = URL(fileURLWithPath: denseEncoder).standardizedFileURL.path
            }
            let entry = LinkerManifestEntry(
                task: task, file: file, dictionaries: source.dictionary.map { ($0 as NSString).lastPathComponent },
                trainingCorpora: source.training.map { $0.split(separator: "/").suffix(2).joined(separator: "/") },
                exactOnly: exactOnly, prefer: prefer, concepts: dictionary.concepts.count, bytes: bytes.count, licence: licence)
            var withDense = entry
            withDense.dense = dense
            withDense.denseEncoder = encoderPath
            try LinkerManifest.read(directory: output).replacing(withDense).write(directory: output)
        } catch let error as LinkerIndexError {
            throw CommandError(error.description)
        } catch {
            throw CommandError("cannot write the linker to \(output): \(error.localizedDescription)")
        }
        let seconds = (ContinuousClock.now - started).seconds
        print("\(task): \(dictionary.concepts.count) concepts, \(bytes.count / 1024) KiB, \(String(format: "%.1f", seconds)) s → \(output)/\(task).linker")
    }
}

struct EvalLink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-link",
        abstract: "Gold-span linking accuracy: accuracy@1 and @5 on a PubTator corpus with concept ids, stage by stage.",
        discussion: """
            Every gold mention with an id is linked from its text alone (and its document's abbreviations). At 1 it \
            counts when the first candidates of the concepts found are the gold concepts (a composite mention needs \
            all its parts); at 5 when every gold id is among the first five candidates. A concept's alternate ids \
            count. With --ablation the stages are added one at a time, to show what each one buys.
            """)

    @OptionGroup var linking: LinkerOptions

    @Option(help: ArgumentHelp("Corpus with ids: a PubTator file (../shared/data/normalization/corpora/ncbi-disease/devel.pubtator) or a standoff table with its split (…/craft/CL.tsv:test, …/linnaeus/filtered_tags.tsv:devel).", valueName: "file"))
    var corpus: String?

    @Option(help: ArgumentHelp(
        "Instead of --corpus and a linker: every gold corpus of this normalization data folder (NCBI-disease, BC5CDR, LINNAEUS, CRAFT CL/UBERON/GO_CC) with the linker of its head from the model's linking/ directory and --linkers.",
        valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("With --data: the split (train, devel, test).", valueName: "name"))
    var split: String = "test"

    @Option(help: ArgumentHelp("With --data: another directory of linkers (repeatable), e.g. one with the disease linker.", valueName: "dir"))
    var linkers: [String] = []

    @Option(help: ArgumentHelp("Also rank the mentions no exact stage links by this encoder's cosine plus weight × 3-gram similarity (a model directory).", valueName: "dir"))
    var denseEncoder: String?

    @Option(help: ArgumentHelp("With --dense-encoder: the 3-gram weights to score (comma-separated).", valueName: "list"))
    var denseWeights: String = "0,0.5,1,2"

    func validate() throws {
        guard (data == nil) != (corpus == nil) else { throw ValidationError("give either --corpus with --dictionary or --index, or --data") }
        if corpus != nil, !linking.isGiven { throw ValidationError("--corpus needs the linker to evaluate: --dictionary FILE or --index FILE") }
        if data != nil, linking.isGiven { throw ValidationError("--data evaluates the model's linkers (and --linkers) on every corpus: no --dictionary or --index with it") }
        if data != nil, let endToEnd, endToEnd != "disease" { throw ValidationError("with --data, --end-to-end scores the disease head on NCBI-disease only") }
        guard ["train", "devel", "test"].contains(split) else { throw ValidationError("--split must be train, devel or test, got '\(split)'") }
    }

    @Option(help: ArgumentHelp("Only gold mentions of these types (comma-separated, e.g. Disease for BC5CDR's diseases; default: all).", valueName: "types"))
    var mentionTypes: String?

    @Flag(help: "Also measure exact alone, then with each further stage added.")
    var ablation = false

    @Option(help: ArgumentHelp(
        "Also score end to end: annotate the corpus's raw texts with the model, link this head's entities with this linker, and compare each document's concept ids with the gold's (document-level concept F1, as PubTator-style normalization is scored).",
        valueName: "head"))
    var endToEnd: String?

    @Option(help: ArgumentHelp("With --end-to-end: the thresholds of near matches to score (comma-separated; see annotate --link-threshold and --dense-link-threshold; default: the stage's own).", valueName: "list"))
    var linkThresholds: String?

    @Option(help: ArgumentHelp("With --end-to-end: the model directory (default: the default model, as for annotate).", valueName: "dir"))
    var model: String?

    @OptionGroup var runtime: RuntimeOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        if let data { return try runSuite(data: data) }
        try runOne(corpus: corpus!)
    }

    /// Every gold corpus of a normalization data folder, each against the linker of its head.
    private func runSuite(data: String) throws {
        let directory = try modelDirectory(model)
        let set: LinkerSet
        do { set = try LinkerSet.load(directories: [LinkerSet.directory(ofModel: directory)] + linkers) } catch { throw CommandError(error.description) }
        let corpora = (data as NSString).appendingPathComponent("corpora")
        let suite: [(name: String, specification: String, types: Set<String>?, head: String)] = [
            ("NCBI-disease", "ncbi-disease/\(split).pubtator", nil, "disease"),
            ("BC5CDR Disease", "bc5cdr/\(split).pubtator", ["Disease"], "disease"),
            ("BC5CDR Chemical", "bc5cdr/\(split).pubtator", ["Chemical"], "chemical"),
            ("LINNAEUS", "linnaeus/filtered_tags.tsv:\(split)", nil, "species"),
            ("CRAFT CL", "craft/CL.tsv:\(split)", nil, "cell_type"),
            ("CRAFT UBERON", "craft/UBERON.tsv:\(split)", nil, "anatomy"),
            ("CRAFT GO_CC", "craft/GO_CC.tsv:\(split)", nil, "cellular_component"),
        ]
        var rows: [[String: Any]] = []
        if !json { print("\(split) split of \(data), linkers of \(directory)\((linkers.isEmpty ? "" : " and " + linkers.joined(separator: ", ")))\ncorpus            head                 mentions   acc@1   acc@5") }
        for entry in suite {
            let path = (corpora as NSString).appendingPathComponent(entry.specification)
            let file = path.hasSuffix(".pubtator") ? path : String(path[..<path.lastIndex(of: ":")!])
            var row: [String: Any] = ["corpus": entry.name, "head": entry.head]
            var note: String?
            if !FileManager.default.fileExists(atPath: file) {
                note = "no \(split) split here (BC5CDR's test split is held back)"
            } else if let linker = set.linkers[entry.head] {
                var gold: LinkingCorpus
                do { gold = try LinkingCorpus.load(specification: path) } catch { throw CommandError(error.description) }
                if let types = entry.types { gold = gold.filter { types.contains($0.type) } }
                let accuracy = LinkingAccuracy.measure(linker, on: gold)
                row["mentions"] = accuracy.mentions
                row["accuracy_at_1"] = accuracy.atOne
                row["accuracy_at_5"] = accuracy.atFive
                if !json {
                    print(entry.name.padding(toLength: 18, withPad: " ", startingAt: 0) + entry.head.padding(toLength: 19, withPad: " ", startingAt: 0)
                          + String(format: " %9d %7.2f %7.2f", accuracy.mentions, 100 * accuracy.atOne, 100 * accuracy.atFive))
                }
            } else {
                note = "no \(entry.head) linker (add one with --linkers DIR)"
            }
            if let note {
                row["note"] = note
                if !json { print(entry.name.padding(toLength: 18, withPad: " ", startingAt: 0) + entry.head.padding(toLength: 19, withPad: " ", startingAt: 0) + "   " + note) }
            }
            rows.append(row)
        }
        if json { print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)) }
        if let head = endToEnd {
            guard let linker = set.linkers[head] else { throw CommandError("--end-to-end \(head): no \(head) linker (add one with --linkers DIR)") }
            let gold: LinkingCorpus
            do { gold = try LinkingCorpus.load(specification: (corpora as NSString).appendingPathComponent("ncbi-disease/\(split).pubtator")) } catch { throw CommandError(error.description) }
            print("\nend to end, NCBI-disease \(split), \(head) head of \(directory) (\(linker.usesDense ? "dense" : "3-gram") near matches): document-level concept F1")
            print("threshold  precision  recall      F1")
            for row in try documentF1(head: head, linker: linker, gold: gold) {
                print(String(format: "%9.2f  %9.2f  %6.2f  %6.2f", row.threshold, 100 * row.score.precision, 100 * row.score.recall, 100 * row.score.f1))
            }
        }
    }

    private func runOne(corpus: String) throws {
        var gold: LinkingCorpus
        do { gold = try LinkingCorpus.load(specification: corpus) } catch { throw CommandError(error.description) }
        if let mentionTypes {
            let wanted = Set(commaList(mentionTypes))
            gold = gold.filter { wanted.contains($0.type) }
            guard !gold.mentions.isEmpty else { throw CommandError("\(corpus): no gold mention of type \(mentionTypes)") }
        }
        if linking.source.training.contains(where: { $0 == corpus || URL(fileURLWithPath: $0).standardizedFileURL == URL(fileURLWithPath: corpus).standardizedFileURL }) {
            throw CommandError("--train \(corpus) is the corpus evaluated: its gold mentions would be their own answers")
        }
        let index = try linking.loadIndex()
        let chosen = linking.chosenStages
        let ordered = LinkStage.allCases.filter { chosen.contains($0) && $0 != .dense }  // a dictionary or index alone has no dense stage
        let configurations: [[LinkStage]] = ablation ? ordered.indices.map { Array(ordered[...$0]) } : [ordered]
        var rows: [(stages: String, accuracy: LinkingAccuracy)] = []
        for stages in configurations {
            let accuracy = LinkingAccuracy.measure(Linker(index: index, stages: Set(stages)), on: gold)
            rows.append((stages.map(\.rawValue).joined(separator: "+"), accuracy))
        }
        if let denseEncoder {
            let encoder: TermEncoder
            do { encoder = try TermEncoder(directory: denseEncoder, workers: 2) } catch { throw CommandError("\(error)") }
            defer { encoder.shutdown() }
            let weights = commaList(denseWeights).compactMap(Float.init)
            for row in try DenseEvaluation.measure(Linker(index: index, stages: chosen), dictionary: try linking.loadDictionary(), encoder: encoder, corpus: gold, weights: weights) {
                print(String(format: "dense + %.2f x ngram: acc@1 %.2f", row.weight, 100 * row.atOne))
            }
        }
        let endToEnd = try self.endToEnd.map { head in try documentF1(head: head, linker: Linker(index: index, stages: chosen), gold: gold) } ?? []
        if json {
            var object: [String: Any] = ["gold_spans": rows.map { ["stages": $0.stages, "mentions": $0.accuracy.mentions, "accuracy_at_1": $0.accuracy.atOne, "accuracy_at_5": $0.accuracy.atFive] as [String: Any] }]
            if !endToEnd.isEmpty {
                object["end_to_end"] = endToEnd.map { ["threshold": Double($0.threshold), "precision": $0.score.precision, "recall": $0.score.recall, "f1": $0.score.f1] as [String: Any] }
            }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            return
        }
        print("\(corpus) against \(linking.sourceName) (\(index.conceptCount) concepts), \(rows.first?.accuracy.mentions ?? 0) gold mentions with ids")
        print("stages                             acc@1   acc@5")
        for row in rows {
            print(row.stages.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: " %7.2f %7.2f", 100 * row.accuracy.atOne, 100 * row.accuracy.atFive))
        }
        if let head = self.endToEnd {
            print("\nend to end, \(head) head of \(model ?? "the default model"), \(gold.documents.count) documents: document-level concept F1")
            print("threshold  precision  recall      F1")
            for row in endToEnd {
                print(String(format: "%9.2f  %9.2f  %6.2f  %6.2f", row.threshold, 100 * row.score.precision, 100 * row.score.recall, 100 * row.score.f1))
            }
        }
    }

    /// Annotates the corpus's raw documents once, then links them at each threshold.
    private func documentF1(head: String, linker: Linker, gold: LinkingCorpus) throws -> [(threshold: Float, score: ConceptF1)] {
        // By default, the threshold of the near-match stage the linker uses.
        let standard = linker.usesDense ? DocumentLinker.defaultDenseMinimumScore : DocumentLinker.defaultMinimumScore
        let thresholds = try commaList(linkThresholds ?? String(standard)).map { text throws -> Float in
            guard let value = Float(text), (0...1).contains(value) else { throw ValidationError("--link-thresholds: '\(text)' is not a number between 0 and 1") }
            return value
        }
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: try modelDirectory(model)) } catch let error as ModelLoadError { throw CommandError(error.description) }
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        let annotated: [Document]
        do {
            var settings = AnnotationSettings()
            settings.tasks = [head]
            let annotator = try Annotator(model: loaded, settings: settings, threads: threads, workers: workers)
            defer { annotator.shutdown() }
            annotated = try annotator.annotate(gold.documents)
        } catch { throw CommandError(error.description) }
        let alternates = linker.index.alternateIds()
        return thresholds.map { threshold in
            let linked = DocumentLinker(linkers: LinkerSet(linkers: [head: linker]), minimumScore: threshold, denseMinimumScore: threshold, workers: workers).link(annotated)
            return (threshold, ConceptF1.measure(linked, gold: gold, head: head) { [$0] + (alternates[$0] ?? []) })
        }
    }
}

struct Relink: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link a catalog's stored entities again with the current linkers, without running the model.",
        discussion: """
            Every record annotation the current linkers (the model's linking/ directory and --linkers) did not link is \
            read back, its entities linked again and stored, a batch per transaction: after a new linker version, or \
            for records annotated before linking. Stopped, it resumes where it stopped; run again, it changes nothing.
            """)

    @Option(help: ArgumentHelp("Catalog written by `biotag annotate --store` or `biotag worker`: a SQLite file or a postgres://user@host/db URL.", valueName: "path|url"))
    var store: String

    @Option(help: ArgumentHelp("The model whose linking/ directory holds the linkers (default: the default model).", valueName: "dir"))
    var model: String?

    @OptionGroup var linking: EntityLinkingOptions

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard PostgresCatalog.isURL(store) || FileManager.default.fileExists(atPath: store) else { throw ValidationError("\(store): no such catalog") }
        guard linking.link != false else { throw ValidationError("--no-link: relink does nothing without linkers") }
    }

    func run() throws {
        guard let set = try linking.linkerSet(model: model) else { throw CommandError("no linkers: the model's linking/ directory has none; give --linkers DIR") }
        let (_, workers) = runtime.resolved(threads: 1, workers: 2)
        let linker = DocumentLinker(linkers: set, minimumScore: linking.linkThreshold, denseMinimumScore: linking.denseLinkThreshold, workers: workers)
        let started = ContinuousClock.now
        let count: Int
        do { count = try openCatalog(store).relink(linkers: set.fingerprint()) { linker.link($0) } } catch { throw CommandError(error.description) }
        print("linked \(count) record annotation\(count == 1 ? "" : "s") again with \(set.linkers.keys.sorted().joined(separator: ", ")) in \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s")
    }
}

struct TrainLinker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-linker",
        abstract: "Fine-tune an encoder on a dictionary's synonyms for dense linking (SapBERT's recipe).",
        discussion: """
            Two names of one concept are pulled together and the other concepts of the batch pushed away (symmetric \
            InfoNCE over mean-pooled, normalized embeddings); every other batch is a concept and its nearest neighbours \
            by name, for hard negatives. Writes a model directory; `eval-link --dense-encoder DIR` measures it.
            """)

    @OptionGroup var source: DictionaryOptions

    @Option(help: ArgumentHelp("The encoder to start from (default: all-MiniLM-L6-v2 as fetched by `biotag fetch-model minilm`).", valueName: "dir"))
    var encoder: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where the trained encoder is written.", valueName: "dir"))
    var output: String

    @Option(help: "Optimizer steps.")
    var steps = 1000

    @Option(help: "Concepts per batch (two names each).")
    var batchConcepts = 32

    @Option(help: "Peak learning rate (linear warm-up over 5% of the steps, then linear decay).")
    var learningRate = 2e-5

    @Option(help: "Threads.")
    var threads = 2

    func validate() throws {
        guard !source.dictionary.isEmpty else { throw ValidationError("give at least one --dictionary") }
        guard steps >= 1, batchConcepts >= 2, threads >= 1, learningRate > 0 else {
            throw ValidationError("--steps ≥ 1, --batch-concepts ≥ 2, --threads ≥ 1 and --learning-rate > 0")
        }
    }

    func run() throws {
        let concepts = try source.load()
        var settings = SynonymTrainingSettings()
        settings.steps = steps
        settings.batchConcepts = batchConcepts
        settings.learningRate = learningRate
        settings.threads = threads
        do {
            try SynonymTrainer.train(encoder: encoder ?? ModelLocations.fetched("all-MiniLM-L6-v2"), dictionary: concepts, settings: settings, output: output) {
                FileHandle.standardOutput.write(Data(($0 + "\n").utf8))
            }
        } catch let error as TrainingError { throw CommandError(error.description) }
        print("wrote \(output)")
    }
}
