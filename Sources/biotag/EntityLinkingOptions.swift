import ArgumentParser
import CommandLineSupport
import Foundation
import Annotation
import Linking
import Models

/// Whether and with what `annotate` links entities to concepts.
struct EntityLinkingOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Link each entity to its ontology concept (default: on when the model directory has linkers).",
        discussion: "Linkers come from the model's linking/ directory and from --linkers directories; heads without one report spans only."))
    var link: Bool?

    @Option(help: ArgumentHelp(
        "Another directory of linkers (`biotag build-linker`, e.g. `make disease-linker`); repeatable. Its linker for a head replaces the model's.",
        valueName: "dir"))
    var linkers: [String] = []

    @Option(help: ArgumentHelp(
        "The least similarity at which a near match (character 3-grams) is reported as the entity's concept; exact matches always are.",
        discussion: "Chosen on NCBI-disease devel (docs/LINKING.md): lower finds more concepts, more of them wrong."))
    var linkThreshold: Float = DocumentLinker.defaultMinimumScore

    @Option(help: ArgumentHelp(
        "The same for linkers with a dense stage (their cosine).",
        discussion: "Chosen on NCBI-disease devel with all-MiniLM-L6-v2 as the encoder (docs/LINKING.md)."))
    var denseLinkThreshold: Float = DocumentLinker.defaultDenseMinimumScore

    func validate() throws {
        guard (0...1).contains(linkThreshold) else { throw ValidationError("--link-threshold must be between 0 and 1, got \(linkThreshold)") }
        guard (-1...1).contains(denseLinkThreshold) else { throw ValidationError("--dense-link-threshold must be between -1 and 1, got \(denseLinkThreshold)") }
        if link == false, !linkers.isEmpty { throw ValidationError("--no-link and --linkers contradict each other") }
        for directory in linkers {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--linkers \(directory): no such directory")
            }
            guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(LinkerManifest.fileName)) else {
                throw ValidationError("--linkers \(directory): no \(LinkerManifest.fileName) there (build linkers into it with `biotag build-linker`)")
            }
        }
    }

    /// The linkers of a model (nil: the default model, when there is one) and of --linkers, or
    /// nil when linking is off.
    func linkerSet(model: String?) throws -> LinkerSet? {
        guard link != false else { return nil }
        let directory = model.map { ModelLocations.resolve($0) ?? $0 } ?? ModelLocations.defaultModel()
        let set: LinkerSet
        do { set = try LinkerSet.load(directories: (directory.map { [LinkerSet.directory(ofModel: $0)] } ?? []) + linkers) } catch { throw CommandError(error.description) }
        if link == true, set.isEmpty { throw CommandError("--link: no linkers (the model's linking/ directory has none; add some with --linkers)") }
        return set.isEmpty ? nil : set
    }

    /// The linking step for a model, or nil when linking is off or nothing links any of `tasks`.
    func documentLinker(model: String, workers: Int, tasks: [String]) throws -> DocumentLinker? {
        guard link != false else { return nil }
        let set: LinkerSet
        do { set = try LinkerSet.load(directories: [LinkerSet.directory(ofModel: model)] + linkers) } catch { throw CommandError(error.description) }
        if link == true, !tasks.contains(where: { set.linkers[$0] != nil }) {
            throw CommandError("--link: no linker for any of the heads run (\(tasks.joined(separator: ", "))); the model's linking/ has \(set.linkers.keys.sorted().joined(separator: ", ")), add others with --linkers")
        }
        guard !set.isEmpty else { return nil }
        return DocumentLinker(linkers: set, minimumScore: linkThreshold, denseMinimumScore: denseLinkThreshold, workers: workers)
    }
}

/// The model, the annotator and the linking step, as `annotate` and `worker` build them from their
/// options. The caller shuts the annotator down.
struct AnnotationSetup {
    let annotator: Annotator
    let linker: DocumentLinker?

    init(model: String?, tasks: String?, pipeline: PipelineOptions, runtime: RuntimeOptions, linking: EntityLinkingOptions) throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: try modelDirectory(model)) } catch let error as ModelLoadError { throw CommandError(error.description) }
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        do { annotator = try Annotator(model: loaded, settings: pipeline.settings(tasks: tasks.map { commaList($0).filter { !$0.isEmpty } }), threads: threads, workers: workers) } catch {
            throw CommandError(error.description)
        }
        do { linker = try linking.documentLinker(model: loaded.directory, workers: workers, tasks: annotator.tasks) } catch {
            annotator.shutdown()
            throw error
        }
    }
}
