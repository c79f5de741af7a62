import Annotation
import Foundation
import Linking
import Tokenization

/// Turns a corpus of documents with character-offset mentions (PubTator, or the standoff tables of
/// `../shared/data/normalization/corpora/`) into IOB sentences that train and score a head like
/// the token-per-line corpora: each passage cut by the pipeline's `SentenceSplitter`, each
/// sentence into words as the model's `BertPreTokenizer` cuts them (whitespace separates,
/// punctuation stands alone), so that a word boundary in training is a word boundary at inference.
///
/// A word that any part of a mention covers is inside it (`B-` for the first word of the mention in
/// the sentence, `I-` after). Where mentions overlap, the one that starts first (then the longer)
/// keeps its words; the other keeps only the words it does not share, so no label sequence is
/// ever invalid.
public enum SpanCorpus {
    public struct Statistics: Sendable, Equatable {
        public var documents = 0
        public var sentences = 0
        public var mentions = 0
        /// Mentions that lost every word to an earlier overlapping mention.
        public var mentionsHidden = 0
        /// Mentions that cover no word (whitespace or control characters only).
        public var mentionsWithoutWords = 0
    }

    /// - Parameters:
    ///   - label: the entity type written after `B-`/`I-` (a head's own type: `Disease`).
    ///   - onlyWithEntities: keep only sentences that hold at least one mention.
    public static func sentences(of corpus: LinkingCorpus, label: String, tokenizer: WordPieceTokenizer,
                                 onlyWithEntities: Bool = false) -> (sentences: [LabelledSentence], statistics: Statistics) {
        var byDocument: [String: [GoldMention]] = [:]
        for mention in corpus.mentions { byDocument[mention.document, default: []].append(mention) }
        var statistics = Statistics()
        statistics.documents = corpus.documents.count
        var result: [LabelledSentence] = []
        let splitter = SentenceSplitter()
        for document in corpus.documents {
            // Mentions in document offsets, first start first, then the longer one.
            let mentions = (byDocument[document.id] ?? []).sorted { ($0.start, -$0.end) < ($1.start, -$1.end) }
            statistics.mentions += mentions.count
            var touched = [Bool](repeating: false, count: mentions.count), placed = touched
            for passage in document.passages {
                let scalars = Array(passage.text.unicodeScalars)
                for range in splitter.split(scalars) {
                    let text = String(String.UnicodeScalarView(scalars[range]))
                    let words = wordRanges(of: tokenizer.encode(text, addSpecialTokens: false))
                    guard !words.isEmpty else { continue }
                    var labels = [String](repeating: "O", count: words.count)
                    var any = false
                    let base = passage.offset + range.lowerBound
                    for (index, mention) in mentions.enumerated() where mention.end > base && mention.start < base + range.count {
                        var first = true
                        for (w, word) in words.enumerated()
                        where base + word.lowerBound < mention.end && base + word.upperBound > mention.start {
                            touched[index] = true
                            if labels[w] != "O" { first = true; continue }  // an earlier mention holds it
                            labels[w] = (first ? "B-" : "I-") + label
                            first = false
                            placed[index] = true
                            any = true
                        }
                    }
                    if onlyWithEntities && !any { continue }
                    result.append(LabelledSentence(words: words.map { String(String.UnicodeScalarView(scalars[range][range.lowerBound + $0.lowerBound..<range.lowerBound + $0.upperBound])) },
                                                   labels: labels, line: 0))
                }
            }
            for index in mentions.indices where !placed[index] {
                if touched[index] { statistics.mentionsHidden += 1 } else { statistics.mentionsWithoutWords += 1 }
            }
        }
        statistics.sentences = result.count
        return (result, statistics)
    }

    /// The word spans of an encoding (scalar offsets into its text), one per pre-tokenized word.
    static func wordRanges(of encoding: Encoding) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var current: Int?
        for (offset, word) in zip(encoding.offsets, encoding.wordIds) {
            guard let word else { continue }
            if word == current, let last = words.last {
                words[words.count - 1] = last.lowerBound..<max(last.upperBound, offset.upperBound)
            } else {
                words.append(offset)
                current = word
            }
        }
        return words
    }

    /// Token-per-line IOB text (`word<TAB>label`, a blank line after each sentence) that
    /// `IOBReader` reads back to the same sentences.
    public static func iobText(_ sentences: [LabelledSentence]) -> String {
        var text = ""
        for sentence in sentences {
            for (word, label) in zip(sentence.words, sentence.labels) { text += word + "\t" + label + "\n" }
            text += "\n"
        }
        return text
    }
}
