import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Training

struct EvalRelations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-relations",
        abstract: "Score document-level relations (BioCreative V CID) against a PubTator corpus's relation lines.",
        discussion: """
            Counts as the BioCreative V chemical-induced disease task does: per document, the set of (chemical, disease) \
            concept pairs; precision, recall and F1 over all documents; MeSH ids with or without `MESH:`. --predicted \
            is a PubTator file of the same documents (e.g. `biotag annotate --to pubtator` with linking); without it the \
            gold file's own entities are used. Reported: the co-occurrence baseline (every chemical concept paired with \
            every disease concept of the document: its recall is the most any relation head can find over those \
            entities and concepts), and the predicted file's own relation lines when it has any.
            """)

    @Option(help: "PubTator file with the gold relation lines (PMID<TAB>CID<TAB>chemical<TAB>disease).")
    var gold: String

    @Option(help: "PubTator file with the entities, concepts and relations to score (default: the gold file's).")
    var predicted: String?

    @Option(help: "Relation type.")
    var type = "CID"

    @Option(help: ArgumentHelp("Also score this model's relation head for --type over the gold file's own entities and concepts (the head's error alone, without the pipeline's).",
                               valueName: "directory or name"))
    var model: String?

    @Option(help: ArgumentHelp("The entity types of the two arguments, comma-separated.", valueName: "first,second"))
    var arguments = "chemical,disease"

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func roles() throws(ValidationError) -> (String, String) {
        let parts = commaList(arguments)
        guard parts.count == 2 else { throw ValidationError("--arguments \(arguments): expected two entity types, e.g. chemical,disease") }
        return (parts[0], parts[1])
    }

    func validate() throws {
        _ = try roles()
        if model != nil, predicted != nil {
            throw ValidationError("--model scores the relation head over the gold file's entities; --predicted already holds relations (give one of them)")
        }
    }

    /// The gold documents with the relations the model's head finds over their own entities.
    func headRelations(_ documents: [Document], model name: String) throws -> [Document] {
        let directory = try modelDirectory(name)
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: directory) } catch { throw CommandError(error.description) }
        let annotator: Annotator
        do { annotator = try Annotator(model: loaded, threads: 1, workers: 2) } catch { throw CommandError("\(error)") }
        defer { annotator.shutdown() }
        guard let head = annotator.relationHeads.first(where: { $0.head.type == type }) else {
            let kinds = annotator.relationHeads.map { "\($0.name) (\($0.head.type))" }
            throw CommandError("\(directory) has no relation head for \(type)" + (kinds.isEmpty ? "" : "; it has \(kinds.joined(separator: ", "))"))
        }
        return try Self.relations(documents, annotator: annotator, head: head.name)
    }

    /// The documents with the relations the annotator's relation head `name` finds over their
    /// own entities and concepts.
    static func relations(_ documents: [Document], annotator: Annotator, head name: String) throws -> [Document] {
        guard let head = annotator.relationHeads.first(where: { $0.name == name }) else { throw CommandError("the model has no relation head '\(name)'") }
        let tokens: [DocumentTokens]
        do { tokens = try annotator.tokens(documents, vectors: .relation(name)) } catch { throw CommandError("\(error)") }
        return zip(documents, tokens).map { document, tokens in
            var scored = document
            scored.relations = RelationExtraction.relations(in: document, tokens: tokens, head: head.head)
            return scored
        }
    }

    static func read(_ path: String) throws -> [Document] {
        var documents: [Document] = []
        do {
            var reader = try makeReader(format: .pubtator, path: path)
            while let item = try reader.next() {
                switch item {
                case let .document(document): documents.append(document)
                case let .rejected(reject): throw CommandError("\(reject.location): \(reject.reason)")
                }
            }
        } catch let error as FormatError { throw CommandError(error.description) }
        return documents
    }

    func run() throws {
        let goldDocuments = try Self.read(gold)
        guard goldDocuments.contains(where: { $0.relations.contains { $0.type == type } }) else {
            throw CommandError("\(gold): no \(type) relation lines (PMID<TAB>\(type)<TAB>concept<TAB>concept)")
        }
        let predictedDocuments = try model.map { try headRelations(goldDocuments, model: $0) } ?? predicted.map(Self.read) ?? goldDocuments
        let evaluation = RelationEvaluation(gold: goldDocuments, predicted: predictedDocuments, type: type, roles: try roles())
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(evaluation), as: UTF8.self))
            return
        }
        print("\(gold): \(evaluation.documents) documents, \(type) pairs counted per document"
            + (predicted.map { " against \($0)" } ?? " against its own entities" + (model.map { ", relations by \($0)'s head" } ?? ""))
            + (evaluation.missing > 0 ? " (\(evaluation.missing) documents missing there)" : ""))
        print("                 gold  found  right      P      R     F1")
        func line(_ name: String, _ score: RelationScore) {
            print(String(format: "%@ %6d %6d %6d %6.2f %6.2f %6.2f", name.padding(toLength: 15, withPad: " ", startingAt: 0), score.gold, score.predicted,
                         score.correct, 100 * score.precision, 100 * score.recall, 100 * score.f1))
        }
        line("co-occurrence", evaluation.cooccurrence)
        if let relations = evaluation.relations { line("relations", relations) }
    }
}
