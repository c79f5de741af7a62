import Foundation
import Models
import Tensors
import Tokenization

public enum AnnotationError: Error, CustomStringConvertible, Equatable {
    case unknownTask(String, available: [String])
    case noTokenHeads(model: String)
    case invalidSettings(String)
    case engine(String)

    public var description: String {
        switch self {
        case let .unknownTask(name, available): "unknown task '\(name)': the model has \(available.joined(separator: ", "))"
        case let .noTokenHeads(model): "\(model) has no token-classification head to annotate with"
        case let .invalidSettings(reason): reason
        case let .engine(reason): "inference failed: \(reason)"
        }
    }
}

/// The annotation pipeline: documents ▶ sentences ▶ wordpieces (windows for long ones) ▶
/// length-sorted batches under a token budget, every head in the same pass ▶ windows merged ▶
/// word aggregation and IOB2 decoding ▶ entities with Unicode scalar offsets into the passages
/// (those without a letter dropped).
///
/// One caller at a time (it owns its inference runners and their threads). With several
/// workers, each runs whole batches on its own runner: on a machine with few cores that beats
/// splitting every operation over threads (`docs/BENCHMARKS.md`).
public final class Annotator: @unchecked Sendable {
    public let model: MultiTaskModel
    public let settings: AnnotationSettings
    public let identity: ModelIdentity
    private let runners: [MultiTaskRunner]
    /// A head, its decoder, and the entity types it reports.
    private typealias Head = (name: String, decoder: EntityDecoder, types: Set<String>)
    private let heads: [Head]
    /// The heads with each word aggregation's decoders (`annotate(_:aggregation:)`).
    private let headsByAggregation: [AggregationStrategy: [Head]]
    private let splitter = SentenceSplitter()
    /// The model's relation heads, run when entities are linked (`annotate(_:aggregation:linking:)`).
    public let relationHeads: [(name: String, head: RelationHead)]

    /// - Parameters:
    ///   - threads: threads splitting each operation of a forward pass, per worker.
    ///   - workers: forward passes run at once, on different batches.
    public init(model: MultiTaskModel, settings: AnnotationSettings = AnnotationSettings(), threads: Int = 1, workers: Int = 1) throws(AnnotationError) {
        try settings.validate(maxPositions: model.config.maxPositions)
        var tokenTasks: [(String, TokenClassificationHead)] = []
        for task in model.tasks { if case let .token(head) = task.head { tokenTasks.append((task.name, head)) } }
        if let wanted = settings.tasks {
            for name in wanted where !tokenTasks.contains(where: { $0.0 == name }) {
                throw .unknownTask(name, available: tokenTasks.map(\.0))
            }
            tokenTasks = tokenTasks.filter { wanted.contains($0.0) }
        }
        guard !tokenTasks.isEmpty else { throw .noTokenHeads(model: model.directory) }
        relationHeads = model.tasks.compactMap { task in if case let .relation(head) = task.head { (task.name, head) } else { nil } }
        self.model = model
        self.settings = settings
        var byAggregation: [AggregationStrategy: [Head]] = [:]
        for aggregation in AggregationStrategy.allCases {
            byAggregation[aggregation] = tokenTasks.map { name, head in
                // A head with one entity type reports its task name; a head with several, each label's type.
                let types = Set(head.labels.compactMap { label -> Substring? in
                    if case let .begin(type) = IOB2Role(label) { return type }
                    if case let .inside(type) = IOB2Role(label) { return type }
                    return nil
                })
                let reported = types.count == 1 ? [name] : Set(types.map(String.init))
                return (name, EntityDecoder(labels: head.labels, aggregation: aggregation, decoding: settings.decoding) { types.count == 1 ? name : $0 },
                        reported)
            }
        }
        headsByAggregation = byAggregation
        heads = byAggregation[settings.aggregation]!
        guard workers >= 1, threads >= 1 else { throw .invalidSettings("threads (\(threads)) and workers (\(workers)) must be at least 1") }
        var runners: [MultiTaskRunner] = []
        do {
            for _ in 0..<workers { runners.append(try MultiTaskRunner(model: model, threads: threads)) }
        } catch {
            for runner in runners { runner.shutdown() }
            throw .engine(error.description)
        }
        self.runners = runners
        // Hashing the weights costs about 50 ms at start: done here only when tasks.json names no
        // version (the catalog, which also tells weights apart, asks for it itself).
        let fingerprint = model.version == nil ? Self.weightsFingerprint(of: model) : nil
        identity = ModelIdentity(name: model.name ?? (model.directory as NSString).lastPathComponent, version: model.version ?? fingerprint!,
                                 weights: fingerprint)
    }

    public func shutdown() { for runner in runners { runner.shutdown() } }

    /// The tasks this annotator runs, in the model's order.
    public var tasks: [String] { heads.map(\.name) }

    /// The entity types each task reports: its own name for a head with one type, each label's
    /// type for a head with several.
    public var reportedTypes: [String: Set<String>] { Dictionary(uniqueKeysWithValues: heads.map { ($0.name, $0.types) }) }

    /// `fnv1a64:` + the FNV-1a hash of the model's weights file: tells model versions apart when
    /// `tasks.json` names none, and copies with the same version but other weights apart.
    public static func weightsFingerprint(of model: MultiTaskModel) -> String {
        guard let file = try? MappedFile(path: (model.directory as NSString).appendingPathComponent("model.safetensors")) else { return "unknown" }
        var hash = FNV1a64()
        hash.combine(file.bytes)
        return "fnv1a64:" + hash.hex
    }

    /// One sentence of one passage, tokenized: what the windows' outputs are merged into.
    private struct Sentence {
        /// Wordpieces without `[CLS]`/`[SEP]`: offsets into the passage, word ids.
        let offsets: [Range<Int>]
        let wordIds: [Int?]
        let ids: [Int32]
        /// `probabilities[head]`: `[tokens, labels]`.
        var probabilities: [[Float]]
        /// How far from a cut edge the window that gave each wordpiece's prediction put it.
        var centrality: [Int]
        /// `[tokens, width]`: each wordpiece's vector for relations (`VectorSource`), when asked for.
        var vectors: [Float]
    }

    /// Which vector of each wordpiece a pass keeps for relations.
    public enum VectorSource: Sendable, Equatable {
        /// The encoder's last hidden state (what a relation head is trained on).
        case hidden
        /// A relation head's projection.
        case relation(String)
    }

    private struct Window {
        let sentence: Int
        let content: Range<Int>
        var length: Int { content.count + 2 }
    }

    /// Annotates documents: every passage is cut into sentences, and its `entities` replaced by
    /// what the heads find, sorted by start, end and type. The result does not depend on how
    /// documents are grouped into calls.
    /// - Parameter aggregation: how wordpieces become words for these documents (nil: the
    ///   settings'); the forward pass is the same for every strategy.
    ///
    /// With `linking`, the entities are linked to their concepts, and the model's relation heads
    /// (`relationHeads`) find the relations between them on the same encoder pass.
    public func annotate(_ documents: [Document], aggregation: AggregationStrategy? = nil, linking: (any EntityLinking)? = nil) throws(AnnotationError) -> [Document] {
        let places = sentencePlaces(documents)
        let relation = linking == nil ? nil : relationHeads.first
        let (found, vectors) = try run(places.texts, heads: aggregation.flatMap { headsByAggregation[$0] } ?? heads,
                                       vectors: relation.map { .relation($0.name) })
        var result = documents
        // The model's entities replace the input's, and relations found between the input's go with them.
        for d in result.indices {
            result[d].relations = []
            for p in result[d].passages.indices { result[d].passages[p].entities = [] }
        }
        for (place, perHead) in zip(places.places, found) {
            for entity in perHead.joined() {
                result[place.document].passages[place.passage].entities.append(entity.shifted(by: place.scalars.lowerBound))
            }
        }
        for d in result.indices {
            for p in result[d].passages.indices {
                if let policy = settings.overlaps, !settings.raw {
                    result[d].passages[p].entities = policy.resolve(result[d].passages[p].entities)
                } else {
                    result[d].passages[p].entities.sort { ($0.start, $0.end, $0.type) < ($1.start, $1.end, $1.type) }
                }
            }
        }
        guard let linking else { return result }
        result = linking.link(result)
        if let relation {
            let tokens = places.tokens(vectors, width: relation.head.width, documents: documents.count)
            for d in result.indices { result[d].relations = RelationExtraction.relations(in: result[d], tokens: tokens[d], head: relation.head) }
        }
        return result
    }

    /// The wordpieces of each document and the vector of each (`VectorSource`) from one encoder
    /// pass, the documents' own entities left as they are: what a relation head is trained and
    /// scored on over given (gold) entities.
    public func tokens(_ documents: [Document], vectors source: VectorSource) throws(AnnotationError) -> [DocumentTokens] {
        if case let .relation(name) = source, !relationHeads.contains(where: { $0.name == name }) {
            throw .unknownTask(name, available: relationHeads.map(\.name))
        }
        let places = sentencePlaces(documents)
        let (_, vectors) = try run(places.texts, heads: [], vectors: source)
        return places.tokens(vectors, width: width(of: source), documents: documents.count)
    }

    /// How many values each wordpiece's vector of `source` has (0 for a relation head the model lacks).
    private func width(of source: VectorSource) -> Int {
        switch source {
        case .hidden: model.config.hiddenSize
        case let .relation(name): relationHeads.first { $0.name == name }?.head.width ?? 0
        }
    }

    /// Every sentence of every passage of `documents`.
    private struct SentencePlaces {
        var places: [(document: Int, passage: Int, scalars: Range<Int>)] = []
        var texts: [ArraySlice<Unicode.Scalar>] = []

        /// Each document's sentences with their wordpieces' offsets and vectors.
        func tokens(_ vectors: [(offsets: [Range<Int>], vectors: [Float])?], width: Int, documents: Int) -> [DocumentTokens] {
            var result = [DocumentTokens](repeating: DocumentTokens(width: width), count: documents)
            for (place, sentence) in zip(places, vectors) {
                guard let sentence else { continue }
                let shift = place.scalars.lowerBound
                result[place.document].sentences.append(DocumentTokens.Sentence(
                    passage: place.passage, offsets: sentence.offsets.map { ($0.lowerBound + shift)..<($0.upperBound + shift) }, vectors: sentence.vectors))
            }
            return result
        }
    }

    private func sentencePlaces(_ documents: [Document]) -> SentencePlaces {
        var result = SentencePlaces()
        for (d, document) in documents.enumerated() {
            for (p, passage) in document.passages.enumerated() {
                let scalars = Array(passage.text.unicodeScalars)
                for range in splitter.split(scalars) {
                    result.places.append((d, p, range))
                    result.texts.append(scalars[range])
                }
            }
        }
        return result
    }

    /// Annotates texts that are sentences already (not cut again): `result[sentence][head]` are
    /// the entities of each head of `tasks` (default: all, in `tasks` order), offsets into the
    /// sentence, in text order. `biotag eval` scores this on the corpora's sentences.
    ///
    /// With an `OverlapPolicy` (and not `raw`), every head runs and the policy decides between
    /// them, as in `annotate(_:)`: a head's entities are those it still reports (as its own type
    /// or one of `otherTypes`) after the other heads had their say.
    public func annotate(sentences: [String], tasks: [String]? = nil) throws(AnnotationError) -> [[[Entity]]] {
        var chosen = heads
        if let tasks {
            chosen = []
            for task in tasks {
                guard let head = heads.first(where: { $0.name == task }) else { throw .unknownTask(task, available: self.tasks) }
                chosen.append(head)
            }
        }
        let texts = sentences.map { ArraySlice(Array($0.unicodeScalars)) }
        guard let policy = settings.overlaps, !settings.raw else { return try run(texts, heads: chosen).entities }
        return try run(texts, heads: heads).entities.map { perHead in
            let resolved = policy.resolve(Array(perHead.joined()))
            return chosen.map { head in
                resolved.compactMap { entity in
                    guard let type = ([entity.type] + entity.otherTypes).first(where: head.types.contains) else { return nil }
                    var own = entity
                    own.type = type
                    own.otherTypes = []
                    return own
                }
            }
        }
    }

    /// Every head's entities in each sentence: wordpieces ▶ windows ▶ length-sorted batches ▶
    /// windows merged ▶ decoded. Offsets are relative to each sentence. With `vectors`, each
    /// sentence's wordpieces (offsets) and their vectors too (nil for a sentence without any).
    private func run(_ texts: [ArraySlice<Unicode.Scalar>], heads: [Head], vectors source: VectorSource? = nil) throws(AnnotationError)
        -> (entities: [[[Entity]]], vectors: [(offsets: [Range<Int>], vectors: [Float])?]) {
        // Tokenization and decoding run on every worker's core, around the forward passes.
        let parts = runners.count
        let tokenized = Batcher.concurrentMap(texts.count, parts: parts) { index -> Sentence? in
            let encoding = model.tokenizer.encode(String(String.UnicodeScalarView(texts[index])), addSpecialTokens: false)
            guard encoding.count > 0 else { return nil }
            return Sentence(offsets: encoding.offsets, wordIds: encoding.wordIds, ids: encoding.ids,
                            probabilities: heads.map { [Float](repeating: 0, count: encoding.count * $0.decoder.labels.count) },
                            centrality: [Int](repeating: -1, count: encoding.count), vectors: [])
        }
        var sentences: [Sentence] = []
        var windows: [Window] = []
        var sentenceOf: [Int?] = []
        for sentence in tokenized {
            guard let sentence else { sentenceOf.append(nil); continue }
            sentenceOf.append(sentences.count)
            for content in WordPieceTokenizer.windowRanges(contentCount: sentence.ids.count, maxLength: settings.maxLength, stride: settings.stride) {
                windows.append(Window(sentence: sentences.count, content: content))
            }
            sentences.append(sentence)
        }
        try infer(windows, heads: heads, vectors: source, into: &sentences)
        let inferred = sentences, placed = sentenceOf
        let vectors: [(offsets: [Range<Int>], vectors: [Float])?] = source == nil ? [] : placed.map { index in
            index.map { (inferred[$0].offsets, inferred[$0].vectors) }
        }
        guard !heads.isEmpty else { return (texts.map { _ in [] }, vectors) }
        let entities = Batcher.concurrentMap(texts.count, parts: parts) { position -> [[Entity]] in
            guard let index = placed[position] else { return heads.map { _ in [] } }
            let scalars = texts[position], sentence = inferred[index]
            return heads.enumerated().map { h, head in
                let spans = sentence.probabilities[h].withUnsafeBufferPointer { head.decoder.decode(probabilities: $0, wordIds: sentence.wordIds) }
                var found: [Entity] = []
                for span in spans {
                    var range = sentence.offsets[span.tokens.lowerBound].lowerBound..<sentence.offsets[span.tokens.upperBound].upperBound
                    if !settings.raw {
                        guard let repaired = EntityBoundaries.repaired(range, in: scalars, type: span.type) else { continue }
                        range = repaired
                        // A span widened over neighbours of its type becomes one with them.
                        let absorbed = found.filter { $0.type == span.type && $0.start < range.upperBound && $0.end > range.lowerBound }
                        if !absorbed.isEmpty {
                            range = min(range.lowerBound, absorbed.map(\.start).min()!)..<max(range.upperBound, absorbed.map(\.end).max()!)
                            found.removeAll { $0.type == span.type && $0.start < range.upperBound && $0.end > range.lowerBound }
                        }
                    }
                    let base = scalars.startIndex
                    found.append(Entity(type: span.type, start: range.lowerBound, end: range.upperBound,
                                        text: String(String.UnicodeScalarView(scalars[(base + range.lowerBound)..<(base + range.upperBound)])), score: span.score))
                }
                return found
            }
        }
        return (entities, vectors)
    }

    /// The token budget of one call's batches: the settings' budget, or less when the call is
    /// small, so that it still makes about two batches per worker. A call of a few sentences (a
    /// service's batch of client requests) would otherwise be one batch that one worker runs while
    /// the others wait. Batching never changes the result.
    private static func budget(_ budget: Int, windows: [Window], workers: Int, maxLength: Int) -> Int {
        guard workers > 1 else { return budget }
        let tokens = windows.reduce(0) { $0 + $1.length }
        return Swift.min(budget, Swift.max(maxLength, (tokens + 2 * workers - 1) / (2 * workers)))
    }

    /// Runs the windows in length-sorted batches and keeps, for each wordpiece, the probabilities
    /// from the window where it is furthest from a cut edge.
    private func infer(_ windows: [Window], heads: [Head], vectors source: VectorSource?, into sentences: inout [Sentence]) throws(AnnotationError) {
        let tokenizer = model.tokenizer
        let batches = Batcher(tokenBudget: Self.budget(settings.tokenBudget, windows: windows, workers: runners.count, maxLength: settings.maxLength))
            .batches(count: windows.count, length: { windows[$0].length }) { index in
            let window = windows[index]
            return [tokenizer.clsId] + sentences[window.sentence].ids[window.content] + [tokenizer.sepId]
        }
        var names = Set(heads.map(\.name))
        if case let .relation(name) = source { names.insert(name) }
        let width = source.map(width(of:)) ?? 0
        if width > 0 { for s in sentences.indices { sentences[s].vectors = [Float](repeating: 0, count: sentences[s].ids.count * width) } }
        let keepHidden = source == .hidden, wanted = names
        let outputs: [MultiTaskOutput]
        do {
            outputs = try Batcher.dispatch(batches.count, over: runners) { runner, index in
                try runner.forward(batches[index].packed, tasks: wanted, keepHidden: keepHidden)
            }
        } catch {
            throw .engine("\(error)")
        }
        for (batch, output) in zip(batches, outputs) {
            // The batch's vectors: `[tokens, width]`, rows as in the packed batch.
            let rows: [Float]
            switch source {
            case let .relation(name)?: rows = output.logits[name] ?? []
            case .hidden?: rows = output.hidden ?? []
            case nil: rows = []
            }
            for (slot, index) in batch.members.enumerated() {
                let window = windows[index]
                let count = sentences[window.sentence].ids.count
                let firstRow = batch.firstRow(slot) + 1
                for token in window.content {
                    // Distance to the nearest edge that cuts the sentence (its own ends do not count).
                    let left = window.content.lowerBound == 0 ? Int.max : token - window.content.lowerBound
                    let right = window.content.upperBound == count ? Int.max : window.content.upperBound - 1 - token
                    let centrality = Swift.min(left, right)
                    guard centrality > sentences[window.sentence].centrality[token] else { continue }
                    sentences[window.sentence].centrality[token] = centrality
                    let row = firstRow + token - window.content.lowerBound
                    if width > 0 {
                        sentences[window.sentence].vectors.replaceSubrange(token * width..<(token + 1) * width, with: rows[row * width..<(row + 1) * width])
                    }
                    for (h, head) in heads.enumerated() {
                        let classes = head.decoder.labels.count
                        output.logits[head.name]!.withUnsafeBufferPointer { logits in
                            sentences[window.sentence].probabilities[h].withUnsafeMutableBufferPointer { target in
                                softmax(logits.baseAddress! + row * classes, count: classes, into: target.baseAddress! + token * classes)
                            }
                        }
                    }
                }
            }
        }
    }
}
