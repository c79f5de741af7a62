import Foundation
import Models
import Synchronization
import Tensors
import Tokenization

/// What the pipeline does with a model's outputs; recorded with every annotation run.
public struct AnnotationSettings: Sendable, Codable, Equatable {
    /// Heads to run (nil: every token-classification head).
    public var tasks: [String]?
    public var aggregation: AggregationStrategy = .first
    /// Constrained Viterbi over word labels instead of per-word argmax.
    public var viterbi = false
    /// Longest piece the encoder sees, `[CLS]` and `[SEP]` included; longer sentences are cut into
    /// windows. The models are trained on 128.
    public var maxLength = 128
    /// Wordpieces shared by consecutive windows; each wordpiece takes its prediction from the
    /// window where it sits furthest from a cut edge.
    public var stride = 32
    /// Most wordpieces in one forward pass (pieces of many documents, sorted by length).
    public var tokenBudget = 8192

    public init() {}
}

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
/// word aggregation and IOB2 decoding ▶ entities with Unicode scalar offsets into the passages.
///
/// One caller at a time (it owns its inference runners and their threads). With several
/// workers, each runs whole batches on its own runner: on a machine with few cores that beats
/// splitting every operation over threads (`docs/BENCHMARKS.md`).
public final class Annotator: @unchecked Sendable {
    public let model: MultiTaskModel
    public let settings: AnnotationSettings
    public let identity: ModelIdentity
    private let runners: [MultiTaskRunner]
    private let heads: [(name: String, decoder: EntityDecoder)]
    private let splitter = SentenceSplitter()

    /// - Parameters:
    ///   - threads: threads splitting each operation of a forward pass, per worker.
    ///   - workers: forward passes run at once, on different batches.
    public init(model: MultiTaskModel, settings: AnnotationSettings = AnnotationSettings(), threads: Int = 1, workers: Int = 1) throws(AnnotationError) {
        guard settings.maxLength >= 8, settings.maxLength <= model.config.maxPositions else {
            throw .invalidSettings("max length \(settings.maxLength) must be between 8 and the model's \(model.config.maxPositions) positions")
        }
        guard settings.stride >= 0, settings.stride <= (settings.maxLength - 2) / 2 else {
            throw .invalidSettings("stride \(settings.stride) must be between 0 and half the window (\((settings.maxLength - 2) / 2))")
        }
        guard settings.tokenBudget >= settings.maxLength else { throw .invalidSettings("token budget \(settings.tokenBudget) is below the max length \(settings.maxLength)") }
        var tokenTasks: [(String, TokenClassificationHead)] = []
        for task in model.tasks { if case let .token(head) = task.head { tokenTasks.append((task.name, head)) } }
        if let wanted = settings.tasks {
            for name in wanted where !tokenTasks.contains(where: { $0.0 == name }) {
                throw .unknownTask(name, available: tokenTasks.map(\.0))
            }
            tokenTasks = tokenTasks.filter { wanted.contains($0.0) }
        }
        guard !tokenTasks.isEmpty else { throw .noTokenHeads(model: model.directory) }
        self.model = model
        self.settings = settings
        heads = tokenTasks.map { name, head in
            // A head with one entity type reports its task name; a head with several, each label's type.
            let types = Set(head.labels.compactMap { label -> Substring? in
                if case let .begin(type) = IOB2Role(label) { return type }
                if case let .inside(type) = IOB2Role(label) { return type }
                return nil
            })
            return (name, EntityDecoder(labels: head.labels, aggregation: settings.aggregation, viterbi: settings.viterbi) { types.count == 1 ? name : $0 })
        }
        guard workers >= 1, threads >= 1 else { throw .invalidSettings("threads (\(threads)) and workers (\(workers)) must be at least 1") }
        var runners: [MultiTaskRunner] = []
        do {
            for _ in 0..<workers { runners.append(try MultiTaskRunner(model: model, threads: threads)) }
        } catch {
            for runner in runners { runner.shutdown() }
            throw .engine(error.description)
        }
        self.runners = runners
        identity = ModelIdentity(name: model.name ?? (model.directory as NSString).lastPathComponent,
                                 version: model.version ?? Self.fingerprint(path: (model.directory as NSString).appendingPathComponent("model.safetensors")))
    }

    public func shutdown() { for runner in runners { runner.shutdown() } }

    /// The tasks this annotator runs, in the model's order.
    public var tasks: [String] { heads.map(\.name) }

    /// `fnv1a64:` + the FNV-1a hash of the weights file: tells model versions apart when
    /// `tasks.json` names none.
    static func fingerprint(path: String) -> String {
        guard let file = try? MappedFile(path: path) else { return "unknown" }
        var hash = FNV1a64()
        hash.combine(file.bytes)
        return "fnv1a64:" + hash.hex
    }

    /// One sentence of one passage, tokenized: what the windows' outputs are merged into.
    private struct Sentence {
        let document: Int, passage: Int
        /// Wordpieces without `[CLS]`/`[SEP]`: offsets into the passage, word ids.
        let offsets: [Range<Int>]
        let wordIds: [Int?]
        let ids: [Int32]
        /// `probabilities[head]`: `[tokens, labels]`.
        var probabilities: [[Float]]
        /// How far from a cut edge the window that gave each wordpiece's prediction put it.
        var centrality: [Int]
    }

    private struct Window {
        let sentence: Int
        let content: Range<Int>
        var length: Int { content.count + 2 }
    }

    /// Annotates documents: every passage's `entities` is replaced by what the heads find,
    /// sorted by start, end and type. The result does not depend on how documents are grouped
    /// into calls.
    public func annotate(_ documents: [Document]) throws(AnnotationError) -> [Document] {
        var sentences: [Sentence] = []
        var windows: [Window] = []
        var passageScalars: [[[Unicode.Scalar]]] = []
        for (d, document) in documents.enumerated() {
            passageScalars.append(document.passages.map { Array($0.text.unicodeScalars) })
            for (p, scalars) in passageScalars[d].enumerated() {
                for range in splitter.split(scalars) {
                    let encoding = model.tokenizer.encode(String(String.UnicodeScalarView(scalars[range])), addSpecialTokens: false)
                    guard encoding.count > 0 else { continue }
                    let index = sentences.count
                    sentences.append(Sentence(document: d, passage: p, offsets: encoding.offsets.map { ($0.lowerBound + range.lowerBound)..<($0.upperBound + range.lowerBound) },
                                              wordIds: encoding.wordIds, ids: encoding.ids,
                                              probabilities: heads.map { [Float](repeating: 0, count: encoding.count * $0.decoder.labels.count) },
                                              centrality: [Int](repeating: -1, count: encoding.count)))
                    for content in WordPieceTokenizer.windowRanges(contentCount: encoding.count, maxLength: settings.maxLength, stride: settings.stride) {
                        windows.append(Window(sentence: index, content: content))
                    }
                }
            }
        }
        try infer(windows, into: &sentences)
        var result = documents
        for d in result.indices { for p in result[d].passages.indices { result[d].passages[p].entities = [] } }
        for sentence in sentences {
            for (h, head) in heads.enumerated() {
                let spans = sentence.probabilities[h].withUnsafeBufferPointer { head.decoder.decode(probabilities: $0, wordIds: sentence.wordIds) }
                for span in spans {
                    let start = sentence.offsets[span.tokens.lowerBound].lowerBound, end = sentence.offsets[span.tokens.upperBound].upperBound
                    let text = String(String.UnicodeScalarView(passageScalars[sentence.document][sentence.passage][start..<end]))
                    result[sentence.document].passages[sentence.passage].entities.append(Entity(type: span.type, start: start, end: end, text: text, score: span.score))
                }
            }
        }
        for d in result.indices {
            for p in result[d].passages.indices {
                result[d].passages[p].entities.sort { ($0.start, $0.end, $0.type) < ($1.start, $1.end, $1.type) }
            }
        }
        return result
    }

    /// Runs the windows in length-sorted batches and keeps, for each wordpiece, the probabilities
    /// from the window where it is furthest from a cut edge.
    private func infer(_ windows: [Window], into sentences: inout [Sentence]) throws(AnnotationError) {
        let order = windows.indices.sorted { (windows[$0].length, $0) < (windows[$1].length, $1) }
        let plan = tokenBudgetGroups(order.map { windows[$0].length }, budget: settings.tokenBudget).map { group in
            var batch = PackedBatch()
            for index in order[group] {
                let window = windows[index]
                batch.append([model.tokenizer.clsId] + sentences[window.sentence].ids[window.content] + [model.tokenizer.sepId])
            }
            return (windows: order[group], batch: batch)
        }
        let outputs = try forward(plan.map(\.batch))
        for ((members, batch), output) in zip(plan, outputs) {
            for (slot, index) in members.enumerated() {
                let window = windows[index]
                let count = sentences[window.sentence].ids.count
                let firstRow = batch.starts[slot] + 1
                for token in window.content {
                    // Distance to the nearest edge that cuts the sentence (its own ends do not count).
                    let left = window.content.lowerBound == 0 ? Int.max : token - window.content.lowerBound
                    let right = window.content.upperBound == count ? Int.max : window.content.upperBound - 1 - token
                    let centrality = Swift.min(left, right)
                    guard centrality > sentences[window.sentence].centrality[token] else { continue }
                    sentences[window.sentence].centrality[token] = centrality
                    let row = firstRow + token - window.content.lowerBound
                    for (h, head) in heads.enumerated() {
                        let classes = head.decoder.labels.count
                        output.logits[head.name]!.withUnsafeBufferPointer { logits in
                            softmax(logits.baseAddress! + row * classes, classes, into: &sentences[window.sentence].probabilities[h], at: token * classes)
                        }
                    }
                }
            }
        }
    }

    /// Every head's logits for each batch; with several workers, batches run at once, each
    /// worker taking the next batch not yet taken.
    private func forward(_ batches: [PackedBatch]) throws(AnnotationError) -> [MultiTaskOutput] {
        let names = Set(heads.map(\.name))
        if runners.count == 1 || batches.count == 1 {
            var outputs: [MultiTaskOutput] = []
            for batch in batches {
                do { outputs.append(try runners[0].forward(batch, tasks: names)) } catch { throw .engine("\(error)") }
            }
            return outputs
        }
        let results = Mutex<[Int: Result<MultiTaskOutput, AnnotationError>]>([:])
        let next = Atomic<Int>(0)
        let runners = self.runners
        DispatchQueue.concurrentPerform(iterations: Swift.min(runners.count, batches.count)) { worker in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < batches.count else { return }
                let result: Result<MultiTaskOutput, AnnotationError>
                do { result = .success(try runners[worker].forward(batches[index], tasks: names)) } catch { result = .failure(.engine("\(error)")) }
                results.withLock { $0[index] = result }
            }
        }
        return try results.withLock { all throws(AnnotationError) in
            var outputs: [MultiTaskOutput] = []
            for index in batches.indices { outputs.append(try all[index]!.get()) }
            return outputs
        }
    }
}

private func softmax(_ logits: UnsafePointer<Float>, _ count: Int, into target: inout [Float], at offset: Int) {
    var largest = logits[0]
    for i in 1..<count { largest = Swift.max(largest, logits[i]) }
    var total: Float = 0
    for i in 0..<count {
        let value = expf(logits[i] - largest)
        target[offset + i] = value
        total += value
    }
    for i in 0..<count { target[offset + i] /= total }
}
