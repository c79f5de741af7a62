import Foundation
import Models

/// Where annotated documents go: a format writer, the catalog, an HTTP response. A job calls
/// `write` with each chunk of annotated documents in input order, `reject` with each record that
/// could not be annotated, then once either `finish` (everything was read) or `abandon` (the job
/// failed).
public protocol DocumentSink: AnyObject {
    func write(_ documents: [Document], model: ModelIdentity) throws
    func reject(_ reject: Reject) throws
    /// Completes the output (closes a BioC collection, renames a file into place, commits).
    func finish() throws
    /// Gives the output up after a failure: a file output is left as it was before the job (all
    /// or nothing); the catalog keeps the chunks it committed (a run resumes from them).
    func abandon()
}

extension DocumentSink {
    public func reject(_ reject: Reject) throws {}
    public func finish() throws {}
    public func abandon() {}
}

/// A step after annotation that links each entity to its concepts (`Linking.DocumentLinker`):
/// it fills `Entity.concepts` and may merge entities several heads found.
public protocol EntityLinking: Sendable {
    func link(_ documents: [Document]) -> [Document]
}

/// What is already done: the catalog answers, for each document, whether this run still needs to
/// annotate it (a record it holds with the same text does not).
public protocol CompletedDocuments: AnyObject {
    func needsAnnotation(_ documents: [Document]) throws -> [Bool]
}

/// One input of a job: a file (or `-` for standard input) in a known format.
public struct AnnotationInput: Sendable, Equatable {
    public var path: String
    public var format: InputFormat
    /// JSON lines: the fields that become passages, and the one holding the record id.
    public var textFields: [String]
    public var idField: String

    public init(path: String, format: InputFormat, textFields: [String] = ["text"], idField: String = "id") {
        self.path = path
        self.format = format
        self.textFields = textFields
        self.idField = idField
    }
}

/// Where each record id was first read: a later record with the same id is a reject (a catalog
/// keys records by id, and two texts under one id would overwrite each other). The annotation job
/// and `biotag enqueue` check their inputs with it.
public struct RecordIds {
    private var first: [String: String] = [:]

    public init() {}

    /// The reject for `document` read at `place` if an earlier record had its id (the first is
    /// kept); nil, and the place remembered, if not.
    public mutating func reject(_ document: Document, at place: String) -> Reject? {
        if let earlier = first[document.id] {
            return Reject(id: document.id, location: place, reason: "duplicate id: \(earlier) has it too (the first is kept)")
        }
        first[document.id] = place
        return nil
    }
}

/// Counts of one job, for progress and the summary.
public struct AnnotationSummary: Sendable, Equatable {
    public var records = 0
    public var entities: [String: Int] = [:]
    public var rejects = 0
    /// Records the catalog already held for this run (not annotated again).
    public var skipped = 0
    public var entityCount: Int { entities.values.reduce(0, +) }

    public init() {}

    mutating func add(_ document: Document) {
        records += 1
        for passage in document.passages { for entity in passage.entities { entities[entity.type, default: 0] += 1 } }
    }
}

/// Why a job stopped: the input, the model or a sink failed. Records that are merely bad do not
/// stop it; they are rejects.
public enum AnnotationJobError: Error, CustomStringConvertible {
    case input(FormatError)
    case annotation(AnnotationError)
    /// A sink (a writer, the catalog) failed; its own message says where.
    case sink(String)

    public var description: String {
        switch self {
        case let .input(error): error.description
        case let .annotation(error): error.description
        case let .sink(message): message
        }
    }
}

/// The annotation job: inputs read in order ▶ chunks of records ▶ what is already done skipped ▶
/// annotated ▶ linked ▶ every sink. The command line, the HTTP service and the queue workers all run
/// annotation through it; each only chooses the inputs, the sinks and what to do with progress.
public final class AnnotationJob {
    public let annotator: Annotator
    /// Records read and annotated together: more give fuller, better-sorted batches, fewer keep
    /// memory low and output flowing.
    public let chunk: Int
    /// Links the entities of each chunk before the sinks see it (nil: spans only).
    public let linking: (any EntityLinking)?
    private let sinks: [any DocumentSink]
    private let completed: (any CompletedDocuments)?
    /// The longest record annotated, in Unicode scalars over all its passages; a longer one is a
    /// reject (a record of many megabytes is almost always a mistake, and would hold the job).
    public var maxRecordCharacters = 2_000_000
    /// Called after each chunk with the counts so far.
    public var onProgress: (AnnotationSummary) -> Void = { _ in }
    /// Called with each record that could not be annotated.
    public var onReject: (Reject) -> Void = { _ in }
    public private(set) var summary = AnnotationSummary()
    private var pending: [Document] = []
    private var ids = RecordIds()

    public init(annotator: Annotator, sinks: [any DocumentSink], completed: (any CompletedDocuments)? = nil, linking: (any EntityLinking)? = nil, chunk: Int = 512) {
        precondition(chunk >= 1, "a chunk holds at least one record")
        self.annotator = annotator
        self.linking = linking
        self.sinks = sinks
        self.completed = completed
        self.chunk = chunk
    }

    /// Reads and annotates every input in turn, then finishes every sink. If anything fails, the
    /// records read before the failure are still annotated (the catalog keeps them), every sink
    /// is abandoned (no file output appears, complete-looking or not), and the error is thrown.
    public func run(_ inputs: [AnnotationInput]) throws(AnnotationJobError) -> AnnotationSummary {
        do throws(AnnotationJobError) {
            for input in inputs {
                var reader: any DocumentReader
                do { reader = try makeReader(format: input.format, path: input.path, textFields: input.textFields, idField: input.idField) } catch {
                    throw AnnotationJobError.input(error)
                }
                var ordinal = 0
                while true {
                    let item: ReadItem?
                    do { item = try reader.next() } catch { throw AnnotationJobError.input(error) }
                    guard let item else { break }
                    ordinal += 1
                    try consume(item, place: "\(input.path == "-" ? "stdin" : input.path), record \(ordinal)")
                }
            }
            try flush()
        } catch {
            // What was read before the failure reaches the catalog; no output looks complete.
            try? flush()
            for sink in sinks { sink.abandon() }
            throw error
        }
        for (index, sink) in sinks.enumerated() {
            do { try sink.finish() } catch {
                for other in sinks[(index + 1)...] { other.abandon() }
                throw .sink("\(error)")
            }
        }
        return summary
    }

    /// One item read: a document waits for its chunk, a reject goes to every sink at once. A
    /// document whose id an earlier one of this job had is rejected (the first is kept).
    /// - Parameter place: where the item was read, for duplicate ids (`file, record 7`).
    public func consume(_ item: ReadItem, place: String) throws(AnnotationJobError) {
        switch item {
        case let .document(document):
            if let duplicate = ids.reject(document, at: place) {
                try consume(.rejected(duplicate), place: place)
                return
            }
            let length = document.passages.reduce(0) { $0 + $1.length }
            if length > maxRecordCharacters {
                try consume(.rejected(Reject(id: document.id, location: place,
                                             reason: "\(length) characters, more than the longest record annotated (\(maxRecordCharacters), --max-record-chars)")), place: place)
                return
            }
            pending.append(document)
            if pending.count >= chunk { try flush() }
        case let .rejected(reject):
            summary.rejects += 1
            onReject(reject)
            for sink in sinks {
                do { try sink.reject(reject) } catch { throw .sink("\(error)") }
            }
        }
    }

    /// Annotates the records waiting (but those already done) and hands them to every sink.
    public func flush() throws(AnnotationJobError) {
        guard !pending.isEmpty else { return }
        if let completed {
            let needed: [Bool]
            do { needed = try completed.needsAnnotation(pending) } catch { throw .sink("\(error)") }
            summary.skipped += needed.filter { !$0 }.count
            pending = zip(pending, needed).filter(\.1).map(\.0)
        }
        let annotated: [Document]
        // Linked in the annotator: its relation heads run on the concepts, from the same pass.
        do { annotated = try annotator.annotate(pending, linking: linking) } catch { throw .annotation(error) }
        for sink in sinks {
            do { try sink.write(annotated, model: annotator.identity) } catch { throw .sink("\(error)") }
        }
        for document in annotated { summary.add(document) }
        pending.removeAll(keepingCapacity: true)
        onProgress(summary)
    }
}
