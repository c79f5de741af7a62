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

    public init(name: String, labels: [String], train: EncodedCorpus, devel: EncodedCorpus?) throws(CorpusError) {
        self.name = name; self.labels = labels; self.train = train; self.devel = devel
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

    /// Loads `<data>/<name>/{train,devel}.tsv`, labels taken from the train split.
    public static func load(name: String, directory: String, tokenizer: WordPieceTokenizer, maxLength: Int, develLimit: Int?) throws(CorpusError) -> TrainingTask {
        let folder = (directory as NSString).appendingPathComponent(name)
        let train = try IOBReader.read(path: (folder as NSString).appendingPathComponent("train.tsv"))
        guard !train.isEmpty else { throw CorpusError(file: (folder as NSString).appendingPathComponent("train.tsv"), reason: "no sentences") }
        let develPath = (folder as NSString).appendingPathComponent("devel.tsv")
        var devel: [LabelledSentence]?
        if FileManager.default.fileExists(atPath: develPath) {
            let sentences = try IOBReader.read(path: develPath)
            devel = develLimit.map { Array(sentences.prefix($0)) } ?? sentences
        }
        return try TrainingTask(name: name, labels: labelSet(of: train),
                                train: EncodedCorpus(sentences: train, tokenizer: tokenizer, maxLength: maxLength),
                                devel: devel.map { EncodedCorpus(sentences: $0, tokenizer: tokenizer, maxLength: maxLength) })
    }
}

/// Entity types that legitimately overlap, so one corpus's entities are no negatives for the
/// other's head: AnatEM's anatomy includes cells and cellular components, and CRAFT's cell
/// types and BioNLP-CG's cells name the same mentions.
public let overlappingTaskPairs: Set<Set<String>> = [
    ["cell", "cell_type"], ["anatomy", "cell"], ["anatomy", "cell_type"], ["anatomy", "cellular_component"],
]
