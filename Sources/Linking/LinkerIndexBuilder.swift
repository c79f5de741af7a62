import Foundation

/// Compiles a `ConceptDictionary` into the bytes of a `LinkerIndex`.
///
/// The 3-gram postings are built in two passes over the terms: document frequencies, then each
/// term's weights appended to its grams' lists.
public enum LinkerIndexBuilder {
    /// - Parameter exactOnly: concepts whose id starts with one of these prefixes are found by
    ///   exact lookup only: their terms stay out of the 3-gram index (MeSH's 250,000
    ///   supplementary chemical records, `MESH:C`, would make it ten times larger and slower).
    /// - Parameter preferring: among concepts a term names equally (neither training usage nor
    ///   preferred names tell them apart), those with this value in the 4th column come first:
    ///   `species` puts *Sus scrofa* before the family *Suidae* for "pig".
    /// - Returns: the index file's bytes.
    public static func build(_ dictionary: ConceptDictionary, exactOnly: [String] = [], preferring: String? = nil) throws(LinkerIndexError) -> [UInt8] {
        func fail(_ reason: String) -> LinkerIndexError { LinkerIndexError(file: dictionary.source, reason: reason) }
        // Concept records.
        var strings: [UInt8] = [], conceptOffsets: [UInt32] = [0]
        for concept in dictionary.concepts {
            strings += Array(concept.id.utf8) + [9] + Array(concept.name.utf8) + [9] + Array(concept.alternateIds.joined(separator: "|").utf8)
            guard strings.count < Int(UInt32.max) else { throw fail("too many concept names for one index (over 4 GiB)") }
            conceptOffsets.append(UInt32(strings.count))
        }
        // Exact keys: the concepts training corpora used the term for most, then those it is the
        // preferred name of, then synonyms, each in dictionary order; the 3-gram terms are the
        // distinct normalized word sequences of each concept.
        var byUsage: [UInt64: [UInt32]] = [:]
        for (key, counts) in dictionary.usage {
            byUsage[LinkerIndex.keyHash(key)] = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { UInt32($0.key) }
        }
        var byName: [UInt64: [UInt32]] = [:], bySynonym: [UInt64: [UInt32]] = [:]
        var termTexts: [String] = [], termConcepts: [UInt32] = []
        for (index, concept) in dictionary.concepts.enumerated() {
            var seen = Set<String>()
            for (position, term) in ([concept.name] + concept.synonyms).enumerated() {
                let words = TermNormalizer.words(term)
                guard !words.isEmpty else { continue }
                let hash = LinkerIndex.keyHash(words.sorted().joined(separator: " "))
                if position == 0 { byName[hash, default: []].append(UInt32(index)) } else { bySynonym[hash, default: []].append(UInt32(index)) }
                let text = words.joined(separator: " ")
                if !exactOnly.contains(where: concept.id.hasPrefix), seen.insert(text).inserted {
                    termTexts.append(text)
                    termConcepts.append(UInt32(index))
                }
            }
        }
        /// Concepts with the preferred extra first, each group in dictionary order.
        func preferred(_ concepts: [UInt32]) -> [UInt32] {
            guard let preferring else { return concepts }
            let first = concepts.filter { dictionary.concepts[Int($0)].extras.contains(preferring) }
            return first + concepts.filter { !dictionary.concepts[Int($0)].extras.contains(preferring) }
        }
        var exactKeys: [UInt64] = [], exactConcepts: [UInt32] = []
        for hash in Set(byName.keys).union(bySynonym.keys).sorted() {
            var seen = Set<UInt32>()
            for concept in (byUsage[hash] ?? []) + preferred(byName[hash] ?? []) + preferred(bySynonym[hash] ?? []) where seen.insert(concept).inserted {
                exactKeys.append(hash)
                exactConcepts.append(concept)
            }
        }
        // 3-gram document frequencies, then idf = ln(terms / df) + 1.
        var frequency: [UInt64: Int] = [:]
        for text in termTexts {
            for gram in LinkerIndex.gramCounts(text) { frequency[gram.key, default: 0] += 1 }
        }
        let gramKeys = frequency.keys.sorted()
        var gramIndex: [UInt64: Int] = [:]
        gramIndex.reserveCapacity(gramKeys.count)
        for (index, key) in gramKeys.enumerated() { gramIndex[key] = index }
        let total = Float(max(termTexts.count, 1))
        let idf = gramKeys.map { logf(total / Float(frequency[$0]!)) + 1 }
        // Per gram, its terms (ascending) and weights; then delta-coded into one byte stream.
        var gramTerms = [[UInt32]](repeating: [], count: gramKeys.count)
        var gramWeights = [[UInt8]](repeating: [], count: gramKeys.count)
        var postingCount = 0
        for (term, text) in termTexts.enumerated() {
            let grams = LinkerIndex.gramCounts(text).map { (index: gramIndex[$0.key]!, weight: Float($0.count) * idf[gramIndex[$0.key]!]) }
            let norm = sqrtf(grams.reduce(0) { $0 + $1.weight * $1.weight })
            for gram in grams {
                gramTerms[gram.index].append(UInt32(term))
                gramWeights[gram.index].append(UInt8(max(1, min(255, (gram.weight / norm * 255).rounded()))))
                postingCount += 1
            }
        }
        var postings: [UInt8] = [], gramStarts: [UInt32] = [0]
        postings.reserveCapacity(postingCount * 3)
        for gram in gramKeys.indices {
            var previous: UInt32 = 0
            for (term, weight) in zip(gramTerms[gram], gramWeights[gram]) {
                var delta = term - previous
                previous = term
                while delta >= 0x80 {
                    postings.append(UInt8(delta & 0x7f) | 0x80)
                    delta >>= 7
                }
                postings.append(UInt8(delta))
                postings.append(weight)
            }
            gramTerms[gram] = []
            guard postings.count < Int(UInt32.max) else { throw fail("too many 3-gram postings for one index") }
            gramStarts.append(UInt32(postings.count))
        }
        // Write.
        let layout = LinkerIndex.layout(concepts: dictionary.concepts.count, stringBytes: strings.count, exact: exactKeys.count,
                                        terms: termConcepts.count, grams: gramKeys.count, postingBytes: postings.count)
        var bytes = [UInt8](repeating: 0, count: layout.total)
        bytes.withUnsafeMutableBytes { raw in
            raw.copyBytes(from: LinkerIndex.magic)
            let header: [UInt32] = [LinkerIndex.version, UInt32(dictionary.concepts.count), UInt32(termConcepts.count), UInt32(exactKeys.count), UInt32(gramKeys.count), 0]
            for (index, value) in header.enumerated() { raw.storeBytes(of: value.littleEndian, toByteOffset: 8 + 4 * index, as: UInt32.self) }
            raw.storeBytes(of: UInt64(postingCount).littleEndian, toByteOffset: 32, as: UInt64.self)
            raw.storeBytes(of: UInt64(strings.count).littleEndian, toByteOffset: 40, as: UInt64.self)
            raw.storeBytes(of: UInt64(postings.count).littleEndian, toByteOffset: 48, as: UInt64.self)
            func put<T>(_ values: [T], _ section: Int) {
                values.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: raw[layout.offsets[section]...]).copyMemory(from: source)
                }
            }
            put(conceptOffsets, 0)
            put(strings, 1)
            put(exactKeys, 2)
            put(exactConcepts, 3)
            put(termConcepts, 4)
            put(gramKeys, 5)
            put(idf, 6)
            put(gramStarts, 7)
            put(postings, 8)
        }
        return bytes
    }
}
