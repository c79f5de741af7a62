import Annotation
import Foundation
import Models
import Tensors
import Tokenization

/// A task's data: the head's labels and its corpus, encoded.
public struct TrainingTask: Sendable {
    public let name: String
    public let labels: [String]
    public let train: EncodedCorpus
    public let devel: EncodedCorpus?
    /// Label ids of each training window.
    let trainLabels: [[Int32]]
    /// The training windows of the head's own corpus, which come first: only they serve the other
    /// heads as negatives. Windows after them come from extra corpora of the head's type that
    /// may share documents with another head's corpus (BC5CDR's diseases and chemicals), where a
    /// negative would teach that head `O` on its own entities.
    public let ownWindows: Int

    public init(name: String, labels: [String], train: EncodedCorpus, devel: EncodedCorpus?, ownWindows: Int? = nil) throws(CorpusError) {
        self.name = name; self.labels = labels; self.train = train; self.devel = devel
        self.ownWindows = min(ownWindows ?? train.windows.count, train.windows.count)
        let map = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, Int32($0)) })
        var trainLabels: [[Int32]] = []
        for window in train.windows { trainLabels.append(try train.labelIds(of: window, map: map)) }
        self.trainLabels = trainLabels
    }

    /// Lower-cased words that lie inside this corpus's gold entities in at least `share` of their
    /// occurrences in the train split, and at least twice.
    public func entityWords(share: Double) -> Set<String> {
        var inside: [String: Int] = [:], total: [String: Int] = [:]
        for sentence in train.sentences {
            for (word, label) in zip(sentence.words, sentence.labels) {
                let key = word.lowercased()
                total[key, default: 0] += 1
                if label != "O" { inside[key, default: 0] += 1 }
            }
        }
        return Set(inside.compactMap { word, count in count >= 2 && Double(count) >= share * Double(total[word] ?? 0) ? word : nil })
    }

    /// The labels training window `index` teaches another task's head as a negative: `O` inside
    /// this corpus's gold entities, except for the entities that contain one of `keeping` (the
    /// head's own words, `entityWords`: "hepatocellular carcinoma" holds the disease word
    /// "carcinoma"), which stay unknown whole; ignored elsewhere, as this corpus was never
    /// annotated for that head's type.
    public func negativeLabels(window index: Int, keeping words: Set<String>) -> [Int32] {
        var labels = trainLabels[index].map { $0 > 0 ? Int32(0) : -100 }
        guard !words.isEmpty else { return labels }
        let window = train.windows[index]
        let sentence = train.sentences[window.sentence]
        let offset = window.words.lowerBound
        for chunk in chunks(Array(sentence.labels[window.words]), mode: .lenient)
        where sentence.words[(offset + chunk.start)..<(offset + chunk.end)].contains(where: { words.contains($0.lowercased()) }) {
            for word in chunk.start..<chunk.end { if let position = window.firstPiece[word] { labels[position] = -100 } }
        }
        return labels
    }

    /// Loads `<data>/<name>/{train,devel}.tsv`, labels taken from the train split, and adds the
    /// sentences of `extra` IOB files (`biotag corpus`) to its training data; their entity types
    /// must be the corpus's own. Model selection uses the own devel split only.
    public static func load(name: String, directory: String, extra: [String] = [], tokenizer: WordPieceTokenizer, maxLength: Int,
                            develLimit: Int?) throws(CorpusError) -> TrainingTask {
        let folder = (directory as NSString).appendingPathComponent(name)
        let own = try IOBReader.read(path: (folder as NSString).appendingPathComponent("train.tsv"))
        guard !own.isEmpty else { throw CorpusError(file: (folder as NSString).appendingPathComponent("train.tsv"), reason: "no sentences") }
        let labels = labelSet(of: own)
        var train = own
        for path in extra {
            let sentences = try IOBReader.read(path: path)
            guard !sentences.isEmpty else { throw CorpusError(file: path, reason: "no sentences") }
            if let stranger = labelSet(of: sentences).first(where: { !labels.contains($0) }) {
                throw CorpusError(file: path, reason: "label '\(stranger)' is not one of task \(name)'s labels \(labels.joined(separator: " ")) (write the corpus with `biotag corpus --label` set to its type)")
            }
            train += sentences
        }
        let develPath = (folder as NSString).appendingPathComponent("devel.tsv")
        var devel: [LabelledSentence]?
        if FileManager.default.fileExists(atPath: develPath) {
            let sentences = try IOBReader.read(path: develPath)
            devel = develLimit.map { Array(sentences.prefix($0)) } ?? sentences
        }
        let encoded = EncodedCorpus(sentences: train, tokenizer: tokenizer, maxLength: maxLength)
        return try TrainingTask(name: name, labels: labels, train: encoded,
                                devel: devel.map { EncodedCorpus(sentences: $0, tokenizer: tokenizer, maxLength: maxLength) },
                                ownWindows: encoded.windows.firstIndex { $0.sentence >= own.count })
    }
}

/// Entity types that legitimately overlap, so one corpus's entities are no negatives for the
/// other's head (the pairs the pipeline reports as one entity with both types).
public let overlappingTaskPairs: Set<Set<String>> = OverlapPolicy.compatible
