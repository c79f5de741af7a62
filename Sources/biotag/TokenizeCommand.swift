import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Models
import Tokenization

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize JSON lines {\"text\": ...} from stdin into ids, offsets and tokens.",
        discussion: """
            Writes one JSON object per input line: {"input_ids": [...], "offsets": [[start, end], ...], "tokens": [...]}. \
            Offsets are Unicode scalar indices into the text ([CLS]/[SEP] are [0, 0]), as Hugging Face tokenizers report them. \
            No truncation: texts longer than the model's positions keep all their tokens.
            """)

    @OptionGroup var model: ModelOptions

    func run() throws {
        let tokenizer: WordPieceTokenizer
        do { tokenizer = try WordPieceTokenizer.load(directory: model.directory) } catch {
            throw CommandError(error.description)
        }
        var reader = try TextLines(path: "-")
        let output = FileHandle.standardOutput
        var pending = ""
        // Whatever was tokenized before a bad line still reaches stdout.
        defer { output.write(Data(pending.utf8)) }
        while let text = try reader.next() {
            pending += JSONText.object(of: tokenizer.encode(text)) + "\n"
            if pending.utf8.count > 1 << 16 { output.write(Data(pending.utf8)); pending = "" }
        }
    }
}
