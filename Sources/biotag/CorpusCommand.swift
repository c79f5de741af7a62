import ArgumentParser
import CommandLineSupport
import Foundation
import Linking
import Models
import Tokenization
import Training

struct MakeCorpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Write a span-annotated corpus (PubTator, or a standoff table with its split) as an IOB corpus for one head.",
        discussion: """
            The text is cut into sentences and words exactly as `biotag annotate` cuts it, so the result trains a head \
            (`biotag train --extra TASK=FILE`) or scores it (`biotag eval --data DIR`, with DIR/<task>/<split>.tsv) on \
            the same word boundaries it sees in use. A word that a mention covers in part is inside it. Examples: \
            `--from bc5cdr/train.pubtator --types Disease --label Disease`; \
            `--from craft/NCBITaxon.tsv:train --label Species --dictionary species.tsv --ranks species,genus`.
            """)

    @Option(help: ArgumentHelp("A PubTator file, or a standoff table with its split (DIR/NAME.tsv:SPLIT).", valueName: "corpus"))
    var from: String

    @Option(help: ArgumentHelp("Comma-separated mention types to keep (PubTator's 5th column; default: every mention).", valueName: "types"))
    var types: String?

    @Option(help: ArgumentHelp("The entity type written in the labels (B-<label>): the type of the head's own corpus.", valueName: "type"))
    var label: String

    @Option(help: ArgumentHelp("A dictionary whose 4th column is the NCBI rank (species.tsv), for --ranks.", valueName: "tsv"))
    var dictionary: String?

    @Option(help: ArgumentHelp("Keep only mentions whose concept has one of these ranks in --dictionary (others are O).",
                               discussion: "CRAFT's NCBITaxon annotations include \"animals\", \"mammalian\" and \"individuals\" (kingdom, class, root); LINNAEUS, the species head's own corpus, marks only species and their kin. `species,subspecies,strain,genus` keeps what both mark.",
                               valueName: "ranks"))
    var ranks: String?

    @Option(help: ArgumentHelp("An IOB file whose sentences are left out (compared without spaces); repeatable.",
                               discussion: "Keeps evaluation text out of training: CRAFT's train documents hold 6,216 sentences of the cell_type head's test split (an older CRAFT release with another split).",
                               valueName: "file"))
    var exclude: [String] = []

    @Flag(help: "Keep only the sentences that hold at least one mention.")
    var onlyWithEntities = false

    @Option(help: "Model directory whose tokenizer cuts the words (default: the default model).")
    var model: String?

    @Option(name: .shortAndLong, help: "IOB file to write (replaced atomically when complete).")
    var output: String

    func validate() throws {
        guard !label.isEmpty, !label.contains(where: { $0.isWhitespace }) else { throw ValidationError("--label must be one word, e.g. Disease") }
        guard (ranks == nil) == (dictionary == nil) else { throw ValidationError("--ranks and --dictionary go together") }
    }

    func run() throws {
        let directory = try modelDirectory(model)
        let tokenizer: WordPieceTokenizer
        do { tokenizer = try WordPieceTokenizer.load(directory: directory) } catch { throw CommandError("\(directory): \(error.description)") }
        var corpus: LinkingCorpus
        do { corpus = try LinkingCorpus.load(specification: from) } catch { throw CommandError(error.description) }
        if let types {
            let wanted = Set(types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            corpus = corpus.filter { wanted.contains($0.type) }
        }
        var dropped = 0
        if let ranks, let dictionary {
            let allowed = Set(ranks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
            let rankOf = try Self.ranks(dictionary: dictionary)
            let before = corpus.mentions.count
            corpus = corpus.filter { mention in !mention.ids.isEmpty && mention.ids.allSatisfy { allowed.contains(rankOf[$0] ?? "") } }
            dropped = before - corpus.mentions.count
        }
        var (sentences, statistics) = SpanCorpus.sentences(of: corpus, label: label, tokenizer: tokenizer, onlyWithEntities: onlyWithEntities)
        var excluded = 0
        if !exclude.isEmpty {
            var keys = Set<String>()
            for path in exclude {
                do { for sentence in try IOBReader.read(path: path) { keys.insert(sentence.words.joined()) } } catch { throw CommandError(error.description) }
            }
            let before = sentences.count
            sentences.removeAll { keys.contains($0.words.joined()) }
            excluded = before - sentences.count
        }
        guard !sentences.isEmpty else { throw CommandError("\(from): no sentence to write") }
        do {
            try Data(SpanCorpus.iobText(sentences).utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch { throw CommandError("\(output): cannot write: \(error.localizedDescription)") }
        printError("\(output): \(sentences.count) sentences" + (exclude.isEmpty ? "" : " (\(excluded) left out as in --exclude)") + " from \(statistics.documents) documents, \(statistics.mentions) mentions"
            + (dropped > 0 ? " (\(dropped) more left out by rank)" : "")
            + ", \(statistics.mentionsHidden) inside an earlier overlapping mention, \(statistics.mentionsWithoutWords) without a word")
    }

    /// id → 4th column of a dictionary (`NCBITaxon:10090` → `species`), read as every dictionary is.
    static func ranks(dictionary path: String) throws -> [String: String] {
        let dictionary: ConceptDictionary
        do { dictionary = try ConceptDictionary.load(path: path, extrasAreIds: false) } catch { throw CommandError(error.description) }
        return Dictionary(dictionary.concepts.map { ($0.id, $0.extras.joined(separator: "|").trimmingCharacters(in: .whitespaces).lowercased()) },
                          uniquingKeysWith: { first, _ in first })
    }
}
