import Annotation
import Foundation
import Models

/// Why a linker index file cannot be used.
public struct LinkerIndexError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

/// A compiled linker: a dictionary's concepts, its normalized exact-lookup table and its
/// character 3-gram TF-IDF index, laid out as flat arrays so that a file of it is used in place
/// through a memory mapping (no parsing at load: the 24 MB chemical dictionary opens in
/// milliseconds instead of the minutes its in-memory build takes).
///
/// Layout (little-endian; each section starts at a multiple of 8 bytes):
///
/// | section | type × count |
/// |---|---|
/// | header | 64 bytes: magic `BTLINKER`, version, the counts below |
/// | concept record offsets | UInt32 × (concepts + 1), into the strings |
/// | strings | UTF-8; a concept record is `id<TAB>name<TAB>alt-id|alt-id` |
/// | exact keys | UInt64 × entries: FNV-1a of a normalized term key, sorted |
/// | exact concepts | UInt32 × entries; for one key, the concepts training corpora used it for most, then those it is the preferred name of, then synonyms, each in dictionary order |
/// | term concepts | UInt32 × terms |
/// | 3-gram keys | UInt64 × grams, sorted |
/// | 3-gram idf | Float32 × grams |
/// | 3-gram posting starts | UInt32 × (grams + 1), byte offsets into the postings |
/// | postings | per gram, per term holding it (ascending): the term's distance from the previous one as a LEB128 varint, then the gram's weight in the term's L2-normalized TF-IDF vector × 255 as one byte |
///
/// Delta-coded terms and 8-bit weights take 2.3 bytes a posting where plain UInt32 + Float16 took
/// 6 (the disease index: 10.8 → 4.6 MB); a weight's rounding error (≤ 1/510) moves a cosine by
/// about 0.002 at most.
///
/// Exact keys are 64-bit hashes, not strings: with a million keys the chance that two collide is
/// about 3 × 10⁻⁸, and a collision would only add a candidate; the answer stays deterministic.
public final class LinkerIndex: @unchecked Sendable {
    static let magic: [UInt8] = Array("BTLINKER".utf8)
    static let version: UInt32 = 1
    static let headerSize = 64

    public let conceptCount: Int
    public let termCount: Int
    public let exactCount: Int
    public let gramCount: Int
    public let postingCount: Int
    public let postingBytes: Int
    /// Bytes of the index (the file's size).
    public let byteCount: Int

    /// Keeps the bytes alive: a `MappedFile` or an owned buffer.
    private let owner: AnyObject
    private let raw: UnsafeRawBufferPointer
    private let conceptOffsets: UnsafeBufferPointer<UInt32>
    private let strings: UnsafeBufferPointer<UInt8>
    private let exactKeys: UnsafeBufferPointer<UInt64>
    private let exactConcepts: UnsafeBufferPointer<UInt32>
    private let termConcepts: UnsafeBufferPointer<UInt32>
    private let gramKeys: UnsafeBufferPointer<UInt64>
    private let gramIdf: UnsafeBufferPointer<Float>
    private let gramStarts: UnsafeBufferPointer<UInt32>
    private let postings: UnsafeBufferPointer<UInt8>

    /// Opens an index file through a memory mapping.
    public convenience init(path: String) throws(LinkerIndexError) {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw LinkerIndexError(file: path, reason: error.description) }
        try self.init(bytes: file.bytes, owner: file, source: path)
    }

    /// An index held in memory (what `LinkerIndexBuilder` produces).
    public convenience init(bytes: [UInt8], source: String = "linker index") throws(LinkerIndexError) {
        let box = ByteBox(bytes)
        try self.init(bytes: UnsafeRawBufferPointer(box.buffer), owner: box, source: source)
    }

    private init(bytes: UnsafeRawBufferPointer, owner: AnyObject, source: String) throws(LinkerIndexError) {
        func fail(_ reason: String) -> LinkerIndexError { LinkerIndexError(file: source, reason: reason) }
        guard bytes.count >= Self.headerSize, Array(bytes[0..<8]) == Self.magic else {
            throw fail("not a biotag linker index (build one with `biotag build-linker`)")
        }
        func word(_ offset: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func long(_ offset: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard word(8) == Self.version else { throw fail("linker index version \(word(8)); this biotag reads version \(Self.version): rebuild it") }
        conceptCount = Int(word(12))
        termCount = Int(word(16))
        exactCount = Int(word(20))
        gramCount = Int(word(24))
        postingCount = Int(long(32))
        let stringBytes = Int(long(40))
        postingBytes = Int(long(48))
        let layout = Self.layout(concepts: conceptCount, stringBytes: stringBytes, exact: exactCount, terms: termCount, grams: gramCount, postingBytes: postingBytes)
        guard bytes.count == layout.total else { throw fail("truncated or damaged: \(bytes.count) bytes where the header promises \(layout.total)") }
        guard let base = bytes.baseAddress, Int(bitPattern: base) % 8 == 0 else { throw fail("index bytes are not 8-byte aligned") }
        func section<T>(_ index: Int, _ count: Int, _ type: T.Type) -> UnsafeBufferPointer<T> {
            UnsafeBufferPointer(start: (base + layout.offsets[index]).assumingMemoryBound(to: T.self), count: count)
        }
        conceptOffsets = section(0, conceptCount + 1, UInt32.self)
        strings = section(1, stringBytes, UInt8.self)
        exactKeys = section(2, exactCount, UInt64.self)
        exactConcepts = section(3, exactCount, UInt32.self)
        termConcepts = section(4, termCount, UInt32.self)
        gramKeys = section(5, gramCount, UInt64.self)
        gramIdf = section(6, gramCount, Float.self)
        gramStarts = section(7, gramCount + 1, UInt32.self)
        postings = section(8, postingBytes, UInt8.self)
        byteCount = bytes.count
        self.owner = owner
        raw = bytes
        // Every offset and index is checked once here, so lookups need no checks of their own.
        guard conceptOffsets.first == 0, conceptOffsets.last.map({ Int($0) == stringBytes }) == true,
              zip(conceptOffsets, conceptOffsets.dropFirst()).allSatisfy({ $0 <= $1 }) else { throw fail("damaged concept records") }
        guard exactConcepts.allSatisfy({ Int($0) < conceptCount }), termConcepts.allSatisfy({ Int($0) < conceptCount }) else {
            throw fail("damaged: a concept index out of range")
        }
        // (A posting's term is checked as it is decoded.)
        guard gramStarts.first == 0, gramStarts.last.map({ Int($0) == postingBytes }) == true,
              zip(gramStarts, gramStarts.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("damaged 3-gram postings")
        }
    }

    /// The FNV-1a hash of the index's bytes: tells two builds apart.
    public func fingerprint() -> String {
        var hash = FNV1a64()
        hash.combine(raw)
        return hash.hex
    }

    /// Byte offsets of the nine sections and the total size.
    static func layout(concepts: Int, stringBytes: Int, exact: Int, terms: Int, grams: Int, postingBytes: Int) -> (offsets: [Int], total: Int) {
        let sizes = [4 * (concepts + 1), stringBytes, 8 * exact, 4 * exact, 4 * terms, 8 * grams, 4 * grams, 4 * (grams + 1), postingBytes]
        var offsets: [Int] = [], position = headerSize
        for size in sizes {
            offsets.append(position)
            position = (position + size + 7) & ~7
        }
        return (offsets, position)
    }

    // MARK: Concepts

    /// The concept's id, preferred name and alternate ids.
    public func concept(_ index: Int) -> (id: String, name: String, alternateIds: [String]) {
        let start = Int(conceptOffsets[index]), end = Int(conceptOffsets[index + 1])
        let record = String(decoding: UnsafeBufferPointer(rebasing: strings[start..<end]), as: UTF8.self)
        let fields = record.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
        let alternates = fields.count > 2 ? fields[2].split(separator: "|").map(String.init) : []
        return (String(fields[0]), fields.count > 1 ? String(fields[1]) : "", alternates)
    }

    /// Every id the concept answers to: its own and its alternate ids.
    public func ids(ofConcept index: Int) -> [String] {
        let record = concept(index)
        return [record.id] + record.alternateIds
    }

    /// Every concept's alternate ids, by its id (concepts without any left out): how an
    /// evaluation matches a concept to a gold id the corpus writes another way.
    public func alternateIds() -> [String: [String]] {
        var result: [String: [String]] = [:]
        for index in 0..<conceptCount {
            let record = concept(index)
            if !record.alternateIds.isEmpty { result[record.id] = record.alternateIds }
        }
        return result
    }

    // MARK: Exact lookup

    /// The concepts with a term whose normalized key is `key`, most used first.
    public func exactConcepts(key: String) -> [Int] {
        guard !key.isEmpty else { return [] }
        let hash = Self.keyHash(key)
        var low = 0, high = exactCount
        while low < high {
            let middle = (low + high) / 2
            if exactKeys[middle] < hash { low = middle + 1 } else { high = middle }
        }
        var result: [Int] = []
        while low < exactCount, exactKeys[low] == hash {
            result.append(Int(exactConcepts[low]))
            low += 1
        }
        return result
    }

    static func keyHash(_ key: String) -> UInt64 {
        var hash = FNV1a64()
        hash.combine(key)
        return hash.value
    }

    // MARK: Character 3-grams

    /// The `count` concepts whose best term is most similar to `text` (cosine of 3-gram TF-IDF
    /// vectors), best first; ties go to the lower concept index. Exact: every posting of every
    /// gram of the text is read.
    public func similarConcepts(_ text: String, count: Int) -> [(concept: Int, score: Float)] {
        guard count > 0, termCount > 0 else { return [] }
        var query: [(gram: Int, weight: Float)] = []
        for (key, occurrences) in Self.gramCounts(text) {
            if let gram = gramIndex(key) { query.append((gram, Float(occurrences) * gramIdf[gram])) }
        }
        let norm = sqrtf(query.reduce(0) { $0 + $1.weight * $1.weight })
        guard norm > 0 else { return [] }
        var scores = [Float](repeating: 0, count: termCount)
        var touched: [UInt32] = []
        for (gram, weight) in query {
            let w = weight / norm
            var position = Int(gramStarts[gram]), term = 0
            let end = Int(gramStarts[gram + 1])
            while position < end {
                var delta = 0, shift = 0
                while position < end, shift < 35 {
                    let byte = postings[position]
                    position += 1
                    delta |= Int(byte & 0x7f) << shift
                    shift += 7
                    if byte < 0x80 { break }
                }
                term += delta
                guard position < end, term < termCount else { break }  // damaged: stop reading this gram
                if scores[term] == 0 { touched.append(UInt32(term)) }
                scores[term] += w * Float(postings[position]) * (1 / 255)
                position += 1
            }
        }
        return Self.best(count, of: touched.lazy.map { (concept: Int(self.termConcepts[Int($0)]), score: scores[Int($0)]) })
    }

    /// The `count` best concepts, each scored by its best term, best first, ties to the lower
    /// concept; one pass that keeps a short sorted list, so the hundreds of thousands of terms a
    /// common 3-gram touches cost a comparison each.
    static func best(_ count: Int, of scored: some Sequence<(concept: Int, score: Float)>) -> [(concept: Int, score: Float)] {
        var list: [(concept: Int, score: Float)] = []
        func before(_ a: (concept: Int, score: Float), _ b: (concept: Int, score: Float)) -> Bool {
            a.score != b.score ? a.score > b.score : a.concept < b.concept
        }
        for entry in scored {
            if list.count == count, let worst = list.last, !before(entry, worst) { continue }
            if let existing = list.firstIndex(where: { $0.concept == entry.concept }) {
                guard before(entry, list[existing]) else { continue }
                list.remove(at: existing)
            }
            let position = list.firstIndex(where: { before(entry, $0) }) ?? list.count
            list.insert(entry, at: position)
            if list.count > count { list.removeLast() }
        }
        return list.map { (concept: $0.concept, score: min($0.score, 1)) }
    }

    private func gramIndex(_ key: UInt64) -> Int? {
        var low = 0, high = gramCount
        while low < high {
            let middle = (low + high) / 2
            if gramKeys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low < gramCount && gramKeys[low] == key ? low : nil
    }

    /// The 3-grams of ` w1 w2 … ` (the normalized words in their order), each packed into 63 bits,
    /// with how often each occurs, sorted by key.
    static func gramCounts(_ text: String) -> [(key: UInt64, count: Int)] {
        let scalars = Array((" " + TermNormalizer.words(text).joined(separator: " ") + " ").unicodeScalars)
        guard scalars.count >= 4 else { return [] }  // no word at all
        var keys: [UInt64] = []
        keys.reserveCapacity(scalars.count - 2)
        for i in 0...(scalars.count - 3) {
            keys.append(UInt64(scalars[i].value) << 42 | UInt64(scalars[i + 1].value) << 21 | UInt64(scalars[i + 2].value))
        }
        keys.sort()
        var result: [(key: UInt64, count: Int)] = []
        for key in keys {
            if result.last?.key == key { result[result.count - 1].count += 1 } else { result.append((key, 1)) }
        }
        return result
    }
}

/// An owned, 8-byte-aligned copy of some bytes.
private final class ByteBox {
    let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        buffer.copyBytes(from: bytes)
        if bytes.isEmpty { buffer.storeBytes(of: 0, as: UInt8.self) }
    }

    deinit { buffer.deallocate() }
}
