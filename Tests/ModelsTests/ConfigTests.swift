import Foundation
import Testing
import TestSupport
import Models

@Suite struct ConfigTests {
    func write(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "biotag-config-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsBothFamilies() throws {
        let bert = try EncoderConfig.load(path: TestPaths.fixture("arch/cased-bert/config.json"))
        #expect(bert.architecture == .bert && bert.hiddenSize == 128 && bert.layers == 2 && bert.heads == 4 && bert.labels?.count == 5)
        let distil = try EncoderConfig.load(path: TestPaths.fixture("arch/distilbert/config.json"))
        #expect(distil.architecture == .distilbert && distil.intermediateSize == 512 && distil.typeVocabularySize == 0)
    }

    /// A pruned model's keys: `transformers`' `pruned_heads` (layer → heads removed) and the
    /// per-layer FFN widths.
    @Test func readsPrunedLayers() throws {
        let path = try write(#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":3,"num_attention_heads":4,"intermediate_size":16,"pruned_heads":{"0":[3,1],"2":[0]},"intermediate_sizes":[8,16,4]}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try EncoderConfig.load(path: path)
        #expect(config.prunedHeads == [[1, 3], [], [0]] && config.isPruned)
        #expect((0..<3).map(config.heads(layer:)) == [2, 4, 3] && (0..<3).map(config.attentionWidth(layer:)) == [4, 8, 6])
        #expect((0..<3).map(config.intermediateSize(layer:)) == [8, 16, 4])
        #expect(config.largestAttentionWidth == 8 && config.largestIntermediateSize == 16)
        let kept = config.keepingLayers([2, 0])
        #expect(kept.layers == 2 && kept.prunedHeads == [[0], [1, 3]] && kept.intermediateSizes == [4, 8])
        let written = try write(String(decoding: try JSONSerialization.data(withJSONObject: config.jsonObject()), as: UTF8.self))
        defer { try? FileManager.default.removeItem(atPath: written) }
        let reread = try EncoderConfig.load(path: written)
        #expect(reread.prunedHeads == config.prunedHeads && reread.intermediateSizes == config.intermediateSizes)
    }

    @Test(arguments: [
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"position_embedding_type":"relative_key"}"#, "position_embedding_type"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"swish"}"#, "activation 'swish'"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":3,"intermediate_size":16}"#, "not a multiple"),
        (#"{"model_type":"roberta","vocab_size":10}"#, "model_type 'roberta'"),
        (#"{"model_type":"bert","hidden_size":8}"#, "missing vocab_size"),
        (#"{"model_type":"bert","#, "not a valid config.json"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"pruned_heads":{"2":[0]}}"#, "pruned_heads names layer '2'"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"pruned_heads":{"0":[0,1]}}"#, "leaving at least one"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"intermediate_sizes":[16]}"#, "intermediate_sizes must give"),
    ])
    func refusesWhatItWouldMisrun(json: String, message: String) throws {
        let path = try write(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try EncoderConfig.load(path: path)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
            #expect(error.description.contains(path))
        }
    }
}
