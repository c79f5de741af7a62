import Annotation
import Foundation
import Testing
import TestSupport

/// `biotag eval` goes through `Annotator.annotate(sentences:)`: it must find what
/// `annotate(_ documents:)` finds in the same text, head by head.
@Suite struct SentenceAnnotationTests {
    @Test(arguments: [Decoding.argmax, .viterbi])
    func sentencesAnnotateAsDocumentsDo(decoding: Decoding) throws {
        let annotator = try TestModel.annotator(workers: 2) { $0.decoding = decoding; $0.maxLength = 16; $0.stride = 4 }
        defer { annotator.shutdown() }
        // One sentence each (no sentence end inside), some longer than a window.
        let texts = (0..<40).map { GeneratedText.make(seed: UInt64($0), length: 4 + $0 % 30).replacingOccurrences(of: ".", with: ",")
            .replacingOccurrences(of: "!", with: ",").replacingOccurrences(of: "?", with: ",").replacingOccurrences(of: "\n", with: " ") }
        let byDocument = try annotator.annotate(texts.enumerated().map { Document(id: "d\($0)", text: $1) })
        let bySentence = try annotator.annotate(sentences: texts)
        for (index, document) in byDocument.enumerated() {
            let expected = document.passages[0].entities
            let found = bySentence[index].joined().sorted { ($0.start, $0.end, $0.type) < ($1.start, $1.end, $1.type) }
            #expect(found == expected, "text \(index): \(texts[index].debugDescription)")
        }
        // One head asked for: that head's entities alone.
        let mixed = try annotator.annotate(sentences: texts, tasks: ["mixed"])
        #expect(mixed.map { $0.count } == texts.map { _ in 1 })
        #expect(mixed.map { $0[0] } == bySentence.map { $0[1] })
        #expect(throws: AnnotationError.unknownTask("nope", available: ["disease", "mixed"])) { try annotator.annotate(sentences: texts, tasks: ["nope"]) }
    }
}
