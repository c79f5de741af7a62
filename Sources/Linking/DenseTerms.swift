import Annotation
import Foundation
import Models
import Tensors

/// Embeds short texts (mentions, dictionary terms) with an encoder: the mean of the last hidden
/// states over the text's wordpieces, `[CLS]` and `[SEP]` included (how sentence-transformers
/// pools all-MiniLM-L6-v2), L2-normalized, so a dot product is a cosine. One caller at a time:
/// its runners keep their scratch buffers between calls (`DocumentLinker` calls it from one
/// thread; a server sharing it across requests must serialize them).
public final class TermEncoder: @unchecked Sendable {
    public let model: MultiTaskModel
    private let runners: [EncoderRunner]
    /// Wordpieces kept of a text; no dictionary term needs more.
    public static let maxLength = 32

    public init(directory: String, workers: Int = 1) throws {
        let model = try MultiTaskModel(directory: directory)
        self.model = model
        runners = try (0..<max(workers, 1)).map { _ in try EncoderRunner(weights: model.encoder, threads: 1) }
    }

    public func shutdown() { for runner in runners { runner.shutdown() } }

    public var width: Int { model.config.hiddenSize }

    /// The token ids of a text as the encoder reads it.
    public func ids(_ text: String) -> [Int32] {
        model.tokenizer.truncate(model.tokenizer.encode(text), maxLength: Self.maxLength).ids
    }

    /// - Returns: `[texts.count, width]`, row `i` the unit vector of `texts[i]`.
    public func embed(_ texts: [String]) throws -> [Float] {
        let sequences = Batcher.concurrentMap(texts.count, parts: runners.count) { self.ids(texts[$0]) }
        // Passes of at most 4,096 wordpieces, but at least one per worker: a few hundred
        // mentions are one small pass, which would leave the other workers idle.
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let batches = Batcher(tokenBudget: max(64, min(4096, (tokens + runners.count - 1) / runners.count))).batches(sequences)
        let width = self.width
        let pooled = try Batcher.dispatch(batches.count, over: runners) { runner, index -> [(Int, [Float])] in
            let batch = batches[index]
            let hidden = try runner.forward(batch.packed)
            return batch.members.enumerated().map { slot, member in
                let rows = batch.packed.rows(of: slot)
                var vector = [Float](repeating: 0, count: width)
                for row in rows { for i in 0..<width { vector[i] += hidden[row * width + i] } }
                let norm = sqrtf(vector.reduce(0) { $0 + $1 * $1 })
                if norm > 0 { for i in 0..<width { vector[i] /= norm } }
                return (member, vector)
            }
        }
        var result = [Float](repeating: 0, count: texts.count * width)
        for (member, vector) in pooled.joined() { result.replaceSubrange((member * width)..<((member + 1) * width), with: vector) }
        return result
    }
}

/// A dictionary's terms as unit vectors, searched exactly: every term's cosine with each query,
/// as one matrix product (oneDNN's sgemm) per block of queries.
///
/// File (`<task>.dense`, little-endian): magic `BTDENSE1`, UInt32 width, UInt32 terms, then
/// UInt32 × terms (each term's concept index in the linker's index), then Float16 × terms ×
/// width (the vectors). Read into Float32 (the disease dictionary's 75,000 terms: 58 MB on disk,
/// 115 MB in memory).
public struct DenseTerms: Sendable {
    public let width: Int
    /// The concept of each term.
    public let termConcepts: [Int32]
    /// `[terms, width]` as a layer's weight (`scores = queries · vectorsᵀ`), so that oneDNN packs
    /// it once and every search reuses the packing.
    public let matrix: LinearWeight
    private let storage: FloatBuffer

    static let magic = Array("BTDENSE1".utf8)

    public init(width: Int, vectors: [Float], termConcepts: [Int32]) {
        precondition(vectors.count == termConcepts.count * width, "one vector per term")
        self.init(width: width, termConcepts: termConcepts, storage: FloatBuffer(vectors))
    }

    private init(width: Int, termConcepts: [Int32], storage: FloatBuffer) {
        self.width = width
        self.termConcepts = termConcepts
        self.storage = storage
        matrix = LinearWeight(weight: storage.pointer, bias: nil, outFeatures: termConcepts.count, inFeatures: width, owner: storage)
    }

    /// The FNV-1a hash of the vectors and their concepts: tells two builds (or encoders) apart.
    public func fingerprint() -> String {
        var hash = FNV1a64()
        hash.combine(UnsafeRawBufferPointer(start: storage.pointer, count: termConcepts.count * width * MemoryLayout<Float>.stride))
        termConcepts.withUnsafeBytes { hash.combine($0) }
        return hash.hex
    }

    /// `[terms, width]`.
    public var vectors: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: termConcepts.count * width)) }

    /// The terms of a dictionary (each concept's distinct names, case folded) embedded.
    public init(dictionary: ConceptDictionary, encoder: TermEncoder) throws {
        var texts: [String] = [], concepts: [Int32] = []
        for (index, concept) in dictionary.concepts.enumerated() {
            var seen = Set<String>()
            for term in [concept.name] + concept.synonyms where seen.insert(term.lowercased()).inserted {
                texts.append(term)
                concepts.append(Int32(index))
            }
        }
        self.init(width: encoder.width, vectors: try encoder.embed(texts), termConcepts: concepts)
    }

    public func write(to path: String) throws {
        var bytes = Self.magic
        func append<T>(_ values: [T]) { values.withUnsafeBytes { bytes += $0 } }
        append([UInt32(width).littleEndian, UInt32(termConcepts.count).littleEndian])
        append(termConcepts.map { UInt32($0).littleEndian })
        append(vectors.map { Float16($0).bitPattern.littleEndian })
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func read(path: String, concepts: Int) throws(LinkerIndexError) -> DenseTerms {
        guard let data = FileManager.default.contents(atPath: path) else { throw LinkerIndexError(file: path, reason: "cannot read the file") }
        let bytes = [UInt8](data)
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { throw LinkerIndexError(file: path, reason: "not a biotag dense-terms file") }
        func word(_ offset: Int) -> Int { Int(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }) }
        let width = word(8), terms = word(12)
        guard width > 0, bytes.count == 16 + 4 * terms + 2 * terms * width else {
            throw LinkerIndexError(file: path, reason: "truncated or damaged: \(bytes.count) bytes for \(terms) terms of width \(width)")
        }
        let termConcepts = (0..<terms).map { Int32(word(16 + 4 * $0)) }
        guard termConcepts.allSatisfy({ $0 >= 0 && Int($0) < concepts }) else {
            throw LinkerIndexError(file: path, reason: "a term's concept is not in the linker's index: rebuild both together")
        }
        // Widened straight into the buffer the search reads (no second copy at load).
        let storage = FloatBuffer(count: terms * width)
        bytes.withUnsafeBytes { raw in
            let start = 16 + 4 * terms
            for i in 0..<(terms * width) {
                storage.pointer[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self))))
            }
        }
        return DenseTerms(width: width, termConcepts: termConcepts, storage: storage)
    }

    /// Each concept's best cosine with `query` (a unit vector), for the concepts that have a term.
    /// - Returns: concept → score.
    public func conceptScores(_ query: ArraySlice<Float>) throws(DNNLError) -> [Int: Float] {
        var best: [Int: Float] = [:]
        let scores = try termScores(Array(query), queries: 1)
        for term in termConcepts.indices {
            let concept = Int(termConcepts[term])
            if scores[term] > best[concept] ?? -2 { best[concept] = scores[term] }
        }
        return best
    }

    /// The `count` best concepts of each query (unit vectors, `[queries, width]`), best first,
    /// ties to the lower concept.
    /// - Parameter runner: runs each matrix product on its pool (nil: `dnnl_sgemm` on the
    ///   calling thread, which packs the terms anew each time).
    public func best(_ count: Int, of queries: [Float], runner: GemmRunner? = nil) throws(DNNLError) -> [[(concept: Int, score: Float)]] {
        let total = queries.count / width, block = 256
        var result: [[(concept: Int, score: Float)]] = []
        for start in stride(from: 0, to: total, by: block) {
            let size = min(block, total - start)
            let scores = try termScores(Array(queries[(start * width)..<((start + size) * width)]), queries: size, runner: runner)
            let terms = termConcepts.count
            scores.withUnsafeBufferPointer { all in
                for q in 0..<size {
                    let row = UnsafeBufferPointer(rebasing: all[(q * terms)..<((q + 1) * terms)])
                    if count == 1 {
                        // The common case (annotation): one pass for the largest; terms are in
                        // concept order, so the first largest is the lowest concept's.
                        var best = 0
                        for term in 1..<max(terms, 1) where row[term] > row[best] { best = term }
                        result.append(terms == 0 ? [] : [(concept: Int(termConcepts[best]), score: row[best])])
                    } else {
                        result.append(LinkerIndex.best(count, of: row.indices.lazy.map { (concept: Int(self.termConcepts[$0]), score: row[$0]) }))
                    }
                }
            }
        }
        return result
    }

    /// `[queries, terms]`: every term's cosine with every query.
    private func termScores(_ queries: [Float], queries count: Int, runner: GemmRunner? = nil) throws(DNNLError) -> [Float] {
        let terms = termConcepts.count
        var scores = [Float](repeating: 0, count: count * terms)
        var failure: DNNLError?
        queries.withUnsafeBufferPointer { q in
            scores.withUnsafeMutableBufferPointer { c in
                do throws(DNNLError) {
                    if let runner {
                        try runner.linear(q.baseAddress!, rows: count, matrix, into: c.baseAddress!)
                    } else {
                        try sgemm(m: count, n: terms, k: width, GemmOperand(q.baseAddress!, ld: width),
                                  GemmOperand(UnsafePointer(storage.pointer), ld: width, transposed: true), c.baseAddress!, ldc: terms)
                    }
                } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return scores
    }
}
