import Foundation

extension WordPieceTokenizer {
    /// Loads the tokenizer of a Hugging Face model directory: `tokenizer.json` when present,
    /// otherwise `vocab.txt` with the casing options of `tokenizer_config.json` (uncased when
    /// that file is absent). Padding and truncation baked into `tokenizer.json` are ignored:
    /// callers choose them per call.
    public static func load(directory: String) throws(TokenizerError) -> WordPieceTokenizer {
        let json = (directory as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) { return try load(tokenizerJSON: json) }
        let vocab = (directory as NSString).appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw .unreadable(path: directory, reason: "neither tokenizer.json nor vocab.txt is there")
        }
        return try load(vocabTxt: vocab, config: (directory as NSString).appendingPathComponent("tokenizer_config.json"))
    }

    /// Loads a `vocab.txt` with the casing options of a `tokenizer_config.json`, if that exists
    /// (uncased when it does not, as BERT's tokenizer defaults).
    public static func load(vocabTxt vocab: String, config: String?) throws(TokenizerError) -> WordPieceTokenizer {
        var normalizer = BertNormalizer()
        if let config, let data = FileManager.default.contents(atPath: config) {
            let settings: TokenizerConfig
            do { settings = try JSONDecoder().decode(TokenizerConfig.self, from: data) } catch {
                throw .invalidTokenizerJSON(path: config, reason: "cannot decode: \(error)")
            }
            normalizer.lowercase = settings.doLowerCase ?? true
            normalizer.stripAccents = settings.stripAccents ?? normalizer.lowercase
            normalizer.handleChineseChars = settings.tokenizeChineseChars ?? true
        }
        return try WordPieceTokenizer(vocabulary: Vocabulary(contentsOf: vocab), normalizer: normalizer)
    }

    /// Loads a `tokenizer.json` whose model is WordPiece with a BertNormalizer.
    public static func load(tokenizerJSON path: String) throws(TokenizerError) -> WordPieceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "no such file or not readable")
        }
        let file: TokenizerFile
        do { file = try JSONDecoder().decode(TokenizerFile.self, from: data) } catch {
            throw .invalidTokenizerJSON(path: path, reason: "cannot decode: \(error)")
        }
        guard file.model.type == "WordPiece" else {
            throw .invalidTokenizerJSON(path: path, reason: "model type '\(file.model.type)' is not WordPiece")
        }
        var normalizer = BertNormalizer()
        if let settings = file.normalizer {
            guard settings.type == "BertNormalizer" else {
                throw .invalidTokenizerJSON(path: path, reason: "normalizer '\(settings.type)' is not BertNormalizer")
            }
            normalizer.cleanText = settings.cleanText ?? true
            normalizer.handleChineseChars = settings.handleChineseChars ?? true
            normalizer.lowercase = settings.lowercase ?? true
            normalizer.stripAccents = settings.stripAccents ?? normalizer.lowercase
        }
        if let pre = file.preTokenizer, pre.type != "BertPreTokenizer" {
            throw .invalidTokenizerJSON(path: path, reason: "pre-tokenizer '\(pre.type)' is not BertPreTokenizer")
        }
        let specials = (file.addedTokens ?? []).filter { $0.special ?? false }.map(\.content)
        return try WordPieceTokenizer(
            vocabulary: Vocabulary(idsByToken: file.model.vocab),
            normalizer: normalizer,
            continuingSubwordPrefix: file.model.continuingSubwordPrefix ?? "##",
            maxInputCharsPerWord: file.model.maxInputCharsPerWord ?? 100,
            unknownToken: file.model.unkToken ?? "[UNK]",
            specialTokens: specials.isEmpty ? nil : specials)
    }
}

private struct TokenizerConfig: Decodable {
    let doLowerCase: Bool?
    let stripAccents: Bool?
    let tokenizeChineseChars: Bool?
    enum CodingKeys: String, CodingKey {
        case doLowerCase = "do_lower_case", stripAccents = "strip_accents", tokenizeChineseChars = "tokenize_chinese_chars"
    }
}

private struct TokenizerFile: Decodable {
    struct AddedToken: Decodable { let content: String; let special: Bool? }
    struct Normalizer: Decodable {
        let type: String
        let cleanText: Bool?, handleChineseChars: Bool?, stripAccents: Bool?, lowercase: Bool?
        enum CodingKeys: String, CodingKey {
            case type, lowercase, cleanText = "clean_text", handleChineseChars = "handle_chinese_chars", stripAccents = "strip_accents"
        }
    }
    struct PreTokenizer: Decodable { let type: String }
    struct Model: Decodable {
        let type: String
        let vocab: [String: Int]
        let unkToken: String?
        let continuingSubwordPrefix: String?
        let maxInputCharsPerWord: Int?
        enum CodingKeys: String, CodingKey {
            case type, vocab, unkToken = "unk_token", continuingSubwordPrefix = "continuing_subword_prefix", maxInputCharsPerWord = "max_input_chars_per_word"
        }
    }
    let addedTokens: [AddedToken]?
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: Model
    enum CodingKeys: String, CodingKey {
        case normalizer, model, addedTokens = "added_tokens", preTokenizer = "pre_tokenizer"
    }
}
