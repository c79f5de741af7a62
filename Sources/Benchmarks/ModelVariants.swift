import CommandLineSupport
import Foundation
import Models

/// The model directories `biotag bench` compares: the model itself for fp32, and its
/// `biotag quantize` output for int8 and bf16 (written to a temporary directory unless the model
/// already is one).
enum ModelVariants {
    static func directory(of model: String, for precision: ComputePrecision) throws -> String {
        guard precision != .fp32 else { return model }
        let weights = (model as NSString).appendingPathComponent("model.safetensors")
        if let file = try? SafetensorsFile(path: weights), ComputePrecision(metadata: file.header.metadata) == precision { return model }
        let out = NSTemporaryDirectory() + "biotag-bench-\(ProcessInfo.processInfo.processIdentifier)-\((model as NSString).lastPathComponent)-\(precision.rawValue)"
        do { _ = try ModelQuantizer.write(model: model, mode: precision, out: out) } catch { throw CommandError(error.description) }
        return out
    }

    static func weightsMiB(_ directory: String) -> Double? {
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).map { Double($0) / 1_048_576 }
    }
}
