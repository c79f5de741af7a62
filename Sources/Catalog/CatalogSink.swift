import Annotation
import Foundation
import Models

/// One annotation run in the catalog as a job's sink and its record of what is done: chunks are
/// stored in one transaction each, rejects kept with their place, and records the run already
/// holds with the same text skipped, so a job stopped at any point resumes where it stopped.
public final class CatalogSink: DocumentSink, CompletedDocuments {
    public let catalog: any AnnotationCatalog
    /// The run: this model version with these settings (created on first use).
    public let run: Int64
    /// The fingerprint of the linkers that link the documents written ("" for none): a later
    /// `relink` with other linkers finds these records.
    public let linkers: String

    /// Opens (or creates) the run of `annotator`'s model, heads and settings. Only settings that can
    /// change results tell runs apart: the token budget (like workers, threads and chunk size,
    /// which are not recorded) only changes how sentences are batched, which never changes a
    /// result (`PipelineTests.batchingNeverChangesTheResult`), so it is recorded as the default.
    public init(catalog: any AnnotationCatalog, annotator: Annotator, linkers: String = "") throws(CatalogError) {
        self.catalog = catalog
        self.linkers = linkers
        var identity = annotator.settings
        identity.tokenBudget = AnnotationSettings().tokenBudget
        let settings: String
        do { settings = String(decoding: try JSONEncoder.sorted.encode(identity), as: UTF8.self) } catch {
            throw .database(path: catalog.location, reason: "cannot record the settings: \(error)")
        }
        var model = annotator.identity
        if model.weights == nil { model.weights = Annotator.weightsFingerprint(of: annotator.model) }
        run = try catalog.run(model: model, tasks: annotator.tasks, settings: settings)
    }

    public func needsAnnotation(_ documents: [Document]) throws -> [Bool] {
        try catalog.needsAnnotation(documents, run: run)
    }

    public func write(_ documents: [Document], model: ModelIdentity) throws {
        try catalog.store(documents, run: run, linkers: linkers)
    }

    public func reject(_ reject: Reject) throws {
        try catalog.reject(reject, run: run)
    }
}
