import ArgumentParser
import CommandLineSupport
import Foundation
import Linking

extension LinkStage: ExpressibleByArgument {}

/// The dictionary and stages a linking command uses.
struct LinkerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Concept dictionary (id, name, synonyms, extras; tab-separated), e.g. ../shared/data/normalization/dictionaries/disease.tsv.", valueName: "file"))
    var dictionary: String

    @Option(help: ArgumentHelp("Stages to run, comma-separated: exact (normalized lookup), abbreviation (short forms the document defines), ngram (character 3-gram TF-IDF).", valueName: "names"))
    var stages: String = LinkStage.allCases.map(\.rawValue).joined(separator: ",")

    @Option(name: .customLong("train"), help: ArgumentHelp("A PubTator corpus with ids whose gold mentions become synonyms of their concepts (repeatable; never the split evaluated).", valueName: "file"))
    var training: [String] = []

    func validate() throws {
        for name in commaList(stages) where LinkStage(rawValue: name) == nil {
            throw ValidationError("--stages: unknown stage '\(name)' (exact, abbreviation, ngram)")
        }
    }

    var chosenStages: Set<LinkStage> { Set(commaList(stages).compactMap(LinkStage.init(rawValue:))) }

    /// The dictionary with the training corpora's mentions added.
    func loadDictionary() throws -> ConceptDictionary {
        do {
            let corpora = try training.map { path throws(DictionaryError) in try LinkingCorpus.load(path: path) }
            return try ConceptDictionary.load(path: dictionary).addingSynonyms(from: corpora)
        } catch { throw CommandError(error.description) }
    }

    func linker() throws -> Linker { Linker(dictionary: try loadDictionary(), stages: chosenStages) }
}

struct Link: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link mentions to the concepts of a dictionary.",
        discussion: """
            Reads JSON lines {"text": mention, "context": optional document text} on stdin and writes, per line, \
            {"text", "concepts": [{"id", "name", "score", "stage"}]}, best first. The context's abbreviations \
            ("Duchenne muscular dystrophy (DMD)") are resolved. The answer depends on the input and the dictionary only.
            """)

    @OptionGroup var linking: LinkerOptions

    @Option(help: "Candidates per mention.")
    var top: Int = 5

    func validate() throws {
        guard (1...100).contains(top) else { throw ValidationError("--top must be between 1 and 100, got \(top)") }
    }

    func run() throws {
        let linker = try linking.linker()
        var reader = try TextLines(path: "-")
        let output = FileHandle.standardOutput
        while let line = try reader.nextLine() {
            let record = try TextLines.object(of: line, lineNumber: reader.lineNumber)
            let mention = try TextLines.string("text", of: record, lineNumber: reader.lineNumber)
            let context = record["context"] as? String ?? ""
            let candidates = linker.link(mention, abbreviations: Abbreviations(text: context), top: top)
            let concepts: [[String: Any]] = candidates.map {
                ["id": $0.id, "name": $0.name, "score": (Double($0.score) * 10_000).rounded() / 10_000, "stage": $0.stage.rawValue]
            }
            let data = try JSONSerialization.data(withJSONObject: ["text": mention, "concepts": concepts], options: [.sortedKeys, .withoutEscapingSlashes])
            output.write(data + Data("\n".utf8))
        }
    }
}

struct EvalLink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-link",
        abstract: "Gold-span linking accuracy: accuracy@1 and @5 on a PubTator corpus with concept ids, stage by stage.",
        discussion: """
            Every gold mention with an id is linked from its text alone (and its document's abbreviations); it counts when \
            a gold id is an id of the first candidate (@1) or of one of the first five (@5), a concept's alternate ids \
            included. With --ablation the stages are added one at a time, to show what each one buys.
            """)

    @OptionGroup var linking: LinkerOptions

    @Option(help: ArgumentHelp("PubTator corpus with ids, e.g. ../shared/data/normalization/corpora/ncbi-disease/devel.pubtator.", valueName: "file"))
    var corpus: String

    @Option(help: ArgumentHelp("Only gold mentions of these types (comma-separated, e.g. Disease for BC5CDR's diseases; default: all).", valueName: "types"))
    var mentionTypes: String?

    @Flag(help: "Also measure exact alone, then exact + abbreviation, then all stages.")
    var ablation = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let dictionary = try linking.loadDictionary()
        var gold: LinkingCorpus
        do { gold = try LinkingCorpus.load(path: corpus) } catch { throw CommandError(error.description) }
        if let mentionTypes {
            let wanted = Set(commaList(mentionTypes))
            gold = LinkingCorpus(texts: gold.texts, mentions: gold.mentions.filter { wanted.contains($0.type) })
            guard !gold.mentions.isEmpty else { throw CommandError("\(corpus): no gold mention of type \(mentionTypes)") }
        }
        if linking.training.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL == URL(fileURLWithPath: corpus).standardizedFileURL }) {
            throw CommandError("--train \(corpus) is the corpus evaluated: its gold mentions would be their own answers")
        }
        let chosen = linking.chosenStages
        let ordered = LinkStage.allCases.filter(chosen.contains)
        let configurations: [[LinkStage]] = ablation ? ordered.indices.map { Array(ordered[...$0]) } : [ordered]
        var rows: [(stages: String, accuracy: LinkingAccuracy)] = []
        for stages in configurations {
            let accuracy = LinkingAccuracy.measure(Linker(dictionary: dictionary, stages: Set(stages)), on: gold)
            rows.append((stages.map(\.rawValue).joined(separator: "+"), accuracy))
        }
        if json {
            let object = rows.map { ["stages": $0.stages, "mentions": $0.accuracy.mentions, "accuracy_at_1": $0.accuracy.atOne, "accuracy_at_5": $0.accuracy.atFive] as [String: Any] }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
            return
        }
        print("\(corpus) against \(linking.dictionary) (\(dictionary.concepts.count) concepts), \(rows.first?.accuracy.mentions ?? 0) gold mentions with ids")
        print("stages                         acc@1   acc@5")
        for row in rows {
            print(row.stages.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %7.2f %7.2f", 100 * row.accuracy.atOne, 100 * row.accuracy.atFive))
        }
    }
}
