import Annotation
import ArgumentParser
import CommandLineSupport
import Catalog
import Foundation
import Linking

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find records in a catalog by the entities they mention and by their text.",
        discussion: """
            Terms: TYPE:VALUE matches records with an entity of that type whose text equals VALUE (case, width and \
            whitespace ignored; "quote" values with spaces; end with * for a prefix) or, when a linker links VALUE to a \
            concept, an entity linked to that concept (disease:"breast carcinoma" finds "breast cancer"; --no-link \
            matches the text only). TYPE:ID (chemical:MESH:D002945, species:NCBITaxon:9606) matches entities linked \
            to that concept. A bare word or "quoted phrase" \
            searches the record text (words in order, end with * for a prefix); text:VALUE does the same. \
            relation:TYPE matches records with a relation of that type (annotated with linking by a model with a relation \
            head); relation:CID(chemical:cisplatin, disease:"kidney injury") also asks for its arguments, each by a \
            mention of the concept in the record, the concept's name, or its id (disease:MESH:D058186). \
            Combine with AND (or just a space), OR, NOT and parentheses. Everything inside a value is taken literally. \
            Example: disease:"breast cancer" AND anatomy:liver NOT mouse
            """)

    @Argument(help: "The query.")
    var query: String

    @Option(help: ArgumentHelp("Catalog written by `biotag annotate --store` or `biotag worker`: a SQLite file or a postgres://user@host/db URL.", valueName: "path|url"))
    var store: String

    @Option(name: .customLong("run"), help: ArgumentHelp("Annotation run to search (default: each record's latest annotation, whichever run made it; the JSON output names the runs).", valueName: "id"))
    var runId: Int64?

    @Option(help: "Most records listed (all matching records are counted and go into the facets).")
    var limit: Int = 20

    @Option(help: "Most surface forms listed per entity type in the facets.")
    var facets: Int = 10

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: ArgumentHelp("The model whose linkers link query values (default: the default model).", valueName: "dir"))
    var model: String?

    @OptionGroup var linking: EntityLinkingOptions

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        guard facets >= 0 else { throw ValidationError("--facets must be 0 or more, got \(facets)") }
        guard PostgresCatalog.isURL(store) || FileManager.default.fileExists(atPath: store) else { throw ValidationError("\(store): no such catalog (create one with `biotag annotate --store \(store)`)") }
    }

    func run() throws {
        var parsed: SearchQuery
        do { parsed = try SearchQuery.parse(query) } catch { throw CommandError(error.description) }
        if let linkers = try linking.linkerSet(model: model) {
            let acceptance = DocumentLinker(linkers: linkers, minimumScore: linking.linkThreshold, denseMinimumScore: linking.denseLinkThreshold)
            parsed = parsed.linked { type, value in
                guard let linker = linkers.linkers[type] else { return nil }
                let parts = linker.link(value, top: 1)
                guard parts.count == 1, let best = parts[0].first, acceptance.accepts(best) else { return nil }
                return best.id
            }
        }
        let result: SearchResult
        do { result = try openCatalog(store).search(parsed, run: runId, limit: limit, facetLimit: facets) } catch { throw CommandError(error.description) }
        if json {
            let encoder = JSONEncoder.sorted
            encoder.outputFormatting.insert(.prettyPrinted)
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        let source = result.runs.count > 1
            ? "latest annotation of each record: runs \(result.runs.map(String.init).joined(separator: ", ")), newest \(result.run.model.name) \(result.run.model.version)"
            : "run \(result.run.id): \(result.run.model.name) \(result.run.model.version)"
        print("\(result.total) record\(result.total == 1 ? "" : "s") match \(query)   [\(source)]")
        for hit in result.hits {
            let text = hit.text.replacingOccurrences(of: "\n", with: " ")
            print("\n\(hit.id)  \(text.count > 160 ? String(text.prefix(157)) + "..." : text)")
            for entity in hit.matched {
                let concepts = entity.concepts.map { " \($0.id) \($0.name)" }.joined(separator: ";")
                print("    \(([entity.type] + entity.otherTypes).joined(separator: "+")) \(entity.start)-\(entity.end) \"\(entity.text)\" \(String(format: "%.2f", entity.score))\(concepts)")
            }
        }
        if result.total > result.hits.count { print("\n... and \(result.total - result.hits.count) more (--limit)") }
        guard !result.types.isEmpty else { return }
        print("\nfacets (records per entity type; most frequent mentions)")
        for type in result.types {
            let values = (result.values[type.value] ?? []).map { "\($0.value)\($0.concept.map { " [\($0)]" } ?? "") (\($0.records))" }.joined(separator: ", ")
            print("  \(type.value) \(type.records): \(values)")
        }
    }
}
