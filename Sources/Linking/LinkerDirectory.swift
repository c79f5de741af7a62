import Annotation
import Foundation

/// One linker of a directory: the head whose mentions it links, its index file, and where its
/// concepts come from.
public struct LinkerManifestEntry: Sendable, Codable, Equatable {
    /// The head (task) whose entities it links: `disease`, `cell`, ...
    public var task: String
    /// The index file, relative to the directory.
    public var file: String
    /// The dictionaries compiled into it (file names).
    public var dictionaries: [String]
    /// Training corpora whose gold mentions were added as synonyms (file names).
    public var trainingCorpora: [String]
    /// Id prefixes of the concepts found by exact lookup only (left out of the 3-gram index).
    public var exactOnly: [String]
    /// The 4th-column value that breaks ties between concepts (`build-linker --prefer`).
    public var prefer: String?
    /// The dense stage: the terms' vectors (a file of the directory) and the encoder that made
    /// them (a model directory: absolute, or relative to the linker directory).
    public var dense: String?
    public var denseEncoder: String?
    public var concepts: Int
    public var bytes: Int
    /// The sources' licences or terms, as the person who built it stated them.
    public var licence: String

    enum CodingKeys: String, CodingKey {
        case task, file, dictionaries, concepts, bytes, licence, prefer, dense
        case denseEncoder = "dense_encoder"
        case trainingCorpora = "training_corpora"
        case exactOnly = "exact_only"
    }

    public init(task: String, file: String, dictionaries: [String], trainingCorpora: [String], exactOnly: [String], prefer: String? = nil, concepts: Int, bytes: Int, licence: String) {
        self.task = task
        self.file = file
        self.dictionaries = dictionaries
        self.trainingCorpora = trainingCorpora
        self.exactOnly = exactOnly
        self.prefer = prefer
        self.concepts = concepts
        self.bytes = bytes
        self.licence = licence
    }
}

/// `linkers.json`: what a linker directory holds.
public struct LinkerManifest: Sendable, Codable, Equatable {
    public var version: Int
    public var linkers: [LinkerManifestEntry]

    public static let fileName = "linkers.json"

    public init(linkers: [LinkerManifestEntry] = []) {
        self.version = 1
        self.linkers = linkers
    }

    /// The manifest of `directory`, or an empty one when the directory has none.
    public static func read(directory: String) throws(LinkerIndexError) -> LinkerManifest {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return LinkerManifest() }
        guard let data = FileManager.default.contents(atPath: path) else { throw LinkerIndexError(file: path, reason: "cannot read the file") }
        let manifest: LinkerManifest
        do { manifest = try JSONDecoder().decode(LinkerManifest.self, from: data) } catch {
            throw LinkerIndexError(file: path, reason: "not a linker manifest: \(error)")
        }
        guard manifest.version == 1 else { throw LinkerIndexError(file: path, reason: "manifest version \(manifest.version); this biotag reads version 1") }
        return manifest
    }

    public func write(directory: String) throws(LinkerIndexError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try (encoder.encode(self) + Data("\n".utf8)).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch { throw LinkerIndexError(file: path, reason: "cannot write: \(error.localizedDescription)") }
    }

    /// The manifest with `entry` added, replacing any linker for the same task.
    public func replacing(_ entry: LinkerManifestEntry) -> LinkerManifest {
        LinkerManifest(linkers: (linkers.filter { $0.task != entry.task } + [entry]).sorted { $0.task < $1.task })
    }
}

/// The linkers of one or more directories, by task. A later directory's linker for a task
/// replaces an earlier one's: a user's directory (say, with a disease linker built from CTD's
/// vocabulary) overrides the model's own.
public struct LinkerSet: Sendable {
    public let linkers: [String: Linker]
    /// Per task, the directory entry it was loaded from.
    public let entries: [String: LinkerManifestEntry]

    public init(linkers: [String: Linker] = [:], entries: [String: LinkerManifestEntry] = [:]) {
        self.linkers = linkers
        self.entries = entries
    }

    public var isEmpty: Bool { linkers.isEmpty }

    /// `fnv1a64:` + a hash of each task's name, index bytes and dense vectors: what a catalog
    /// records as the linkers of an annotation, so that `biotag relink` knows what another set
    /// (a new index, another encoder) would change.
    public func fingerprint() -> String {
        var hash = FNV1a64()
        for task in linkers.keys.sorted() {
            hash.combine(task)
            hash.combine(linkers[task]!.index.fingerprint())
            if let dense = linkers[task]!.dense { hash.combine(dense.terms.fingerprint()) }
        }
        return "fnv1a64:" + hash.hex
    }

    /// Opens (memory-maps) every linker the directories' manifests list.
    /// An entry's dense stage reads its vectors into memory and opens its encoder (one per
    /// encoder directory, shared).
    public static func load(directories: [String]) throws(LinkerIndexError) -> LinkerSet {
        var linkers: [String: Linker] = [:], entries: [String: LinkerManifestEntry] = [:]
        var encoders: [String: TermEncoder] = [:]
        var search: SerialPool?
        for directory in directories {
            for entry in try LinkerManifest.read(directory: directory).linkers {
                let path = (directory as NSString).appendingPathComponent(entry.file)
                let index = try LinkerIndex(path: path)
                var dense: DenseStage?
                if let file = entry.dense, let encoderPath = entry.denseEncoder {
                    let location = encoderPath.hasPrefix("/") ? encoderPath : (directory as NSString).appendingPathComponent(encoderPath)
                    let terms = try DenseTerms.read(path: (directory as NSString).appendingPathComponent(file), concepts: index.conceptCount)
                    if encoders[location] == nil {
                        do { encoders[location] = try TermEncoder(directory: location, workers: 2) } catch {
                            throw LinkerIndexError(file: (directory as NSString).appendingPathComponent(LinkerManifest.fileName),
                                                   reason: "the \(entry.task) linker's dense encoder \(location) cannot be loaded: \(error)")
                        }
                    }
                    guard encoders[location]!.width == terms.width else {
                        throw LinkerIndexError(file: file, reason: "vectors of width \(terms.width), but the encoder \(location) makes \(encoders[location]!.width): rebuild the linker")
                    }
                    search = search ?? SerialPool(threads: 2)
                    dense = DenseStage(terms: terms, encoder: encoders[location]!, search: search!)
                }
                linkers[entry.task] = Linker(index: index, dense: dense)
                entries[entry.task] = entry
            }
        }
        return LinkerSet(linkers: linkers, entries: entries)
    }

    /// A model directory's own linkers: its `linking/` folder.
    public static func directory(ofModel model: String) -> String { (model as NSString).appendingPathComponent("linking") }
}
