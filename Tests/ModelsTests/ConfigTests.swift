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

    @Test(arguments: [
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"position_embedding_type":"relative_key"}"#, "position_embedding_type"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"swish"}"#, "activation 'swish'"),
        (#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":3,"intermediate_size":16}"#, "not a multiple"),
        (#"{"model_type":"roberta","vocab_size":10}"#, "model_type 'roberta'"),
        (#"{"model_type":"bert","hidden_size":8}"#, "missing vocab_size"),
        (#"{"model_type":"bert","#, "not a valid config.json"),
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
