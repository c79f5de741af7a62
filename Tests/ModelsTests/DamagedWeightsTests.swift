import Foundation
import Models
import Testing
import TestSupport

/// A model whose weights hold a NaN or an infinity is refused at load, naming the tensor.
@Suite struct DamagedWeightsTests {
    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightsAreRefusedWithTheTensorsName(value: Float) throws {
        let source = TestPaths.fixture("arch/cased-bert")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-damaged-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        let damaged = try #require(file.names.first { $0.hasSuffix("attention.output.dense.weight") })
        var records: [TensorRecord] = []
        for name in file.names {
            let info = try file.info(name)
            var bytes = Data(try file.rawBytes(name))
            if name == damaged {
                #expect(info.dtype == .f32)
                withUnsafeBytes(of: value.bitPattern) { bytes.replaceSubrange(40..<44, with: $0) }
            }
            records.append(TensorRecord(name: name, dtype: info.dtype, shape: info.shape, bytes: bytes))
        }
        try SafetensorsWriter.write(records, metadata: file.header.metadata, to: copy + "/model.safetensors")
        #expect(throws: ModelLoadError.nonFinite(file: copy + "/model.safetensors", tensor: damaged, index: 10)) {
            _ = try MultiTaskModel(directory: copy)
        }
        #expect(try MultiTaskModel(directory: source).encoder.config.hiddenSize > 0)
    }
}
