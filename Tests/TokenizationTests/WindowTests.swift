import Foundation
import Testing
import TestSupport
import Tokenization

@Suite struct WindowTests {
    let tokenizer: WordPieceTokenizer

    init() throws {
        tokenizer = try WordPieceTokenizer.load(directory: TestPaths.minilm)
    }

    @Test func wordIdsAndSpecialTokenMask() {
        let encoding = tokenizer.encode("Ataxia-telangiectasia (A-T)")
        #expect(encoding.tokens.first == "[CLS]" && encoding.tokens.last == "[SEP]")
        #expect(encoding.specialTokensMask.first == true && encoding.specialTokensMask.last == true)
        #expect(encoding.specialTokensMask.dropFirst().dropLast().allSatisfy { !$0 })
        #expect(encoding.wordIds.first! == nil && encoding.wordIds.last! == nil)
        // "ataxia" is two pieces of word 0, "-" is word 1.
        #expect(Array(encoding.tokens[1...3]) == ["ata", "##xia", "-"])
        #expect(Array(encoding.wordIds[1...3]) == [0, 0, 1])
        #expect(encoding.typeIds.allSatisfy { $0 == 0 })
    }

    /// Windows cover every piece, each at most `maxLength` with [CLS]/[SEP], consecutive windows
    /// sharing exactly `stride` pieces — checked against a naive re-slicing.
    @Test(arguments: [(16, 0), (16, 5), (32, 8), (512, 128)])
    func slidingWindows(maxLength: Int, stride: Int) {
        let text = String(repeating: "The BRCA1 gene mutation causes hereditary breast cancer. ", count: 40)
        let full = tokenizer.encode(text)
        let windows = tokenizer.windows(of: full, maxLength: maxLength, stride: stride)
        let pieces = Array(full.ids.dropFirst().dropLast())
        if full.count <= maxLength {
            #expect(windows == [full])
            return
        }
        var expected: [[Int32]] = []
        var start = 0
        while true {
            let end = min(start + maxLength - 2, pieces.count)
            expected.append(Array(pieces[start..<end]))
            if end == pieces.count { break }
            start = end - stride
        }
        #expect(windows.map { Array($0.ids.dropFirst().dropLast()) } == expected)
        for window in windows {
            #expect(window.count <= maxLength)
            #expect(window.ids.first == tokenizer.clsId && window.ids.last == tokenizer.sepId)
            #expect(window.offsets.count == window.ids.count)
        }
        let truncated = tokenizer.truncate(full, maxLength: maxLength)
        #expect(truncated == windows[0])
    }
}
