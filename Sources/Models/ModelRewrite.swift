import Foundation

/// Writing a model directory with its weights stored differently (`biotag convert`,
/// `biotag quantize`): every other file is copied as it is.
public enum ModelRewrite {
    /// The tensors of `directory/model.safetensors`: those `widen` picks as fp32 (int8 ones
    /// dequantized with their scales, which then go), the rest byte for byte.
    public static func tensors(of directory: String, widen: (String) -> Bool) throws(ModelWriteError) -> (tensors: [TensorRecord], metadata: [String: String], path: String) {
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw .input(path: path, reason: "\(error)") }
        func isScale(_ name: String) -> Bool {
            name.hasSuffix(SafetensorsFile.scaleSuffix) && file.header.tensors[String(name.dropLast(SafetensorsFile.scaleSuffix.count))] != nil
        }
        func widened(_ name: String) -> Bool {
            guard widen(name), let info = file.header.tensors[name] else { return false }
            return [.f32, .f16, .bf16].contains(info.dtype) || (info.dtype == .i8 && file.header.tensors[name + SafetensorsFile.scaleSuffix] != nil)
        }
        var tensors: [TensorRecord] = []
        for name in file.names {
            if isScale(name), widened(String(name.dropLast(SafetensorsFile.scaleSuffix.count))) { continue }
            do {
                if widened(name) {
                    let values = try file.floats(name)
                    tensors.append(TensorRecord(name: name, shape: values.shape, floats: UnsafeBufferPointer(start: values.pointer, count: values.count)))
                } else {
                    let info = try file.info(name)
                    tensors.append(TensorRecord(name: name, dtype: info.dtype, shape: info.shape, bytes: Data(try file.rawBytes(name))))
                }
            } catch { throw .input(path: path, reason: "\(name): \(error)") }
        }
        return (tensors, file.header.metadata, path)
    }

    /// The tensors of a model with only the encoder layers `kept` (`…layer.N.…`), renumbered in
    /// that order; every other tensor as it is.
    public static func keepingLayers(_ kept: [Int], of tensors: [TensorRecord]) -> [TensorRecord] {
        let position = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        return tensors.compactMap { tensor in
            guard let range = tensor.name.range(of: #"(^|\.)layer\.[0-9]+\."#, options: .regularExpression) else { return tensor }
            let match = tensor.name[range]
            let digits = match.split(separator: ".").last { Int($0) != nil }.flatMap { Int($0) }
            guard let index = digits, let new = position[index] else { return nil }
            let name = tensor.name.replacingCharacters(in: range, with: match.replacingOccurrences(of: "layer.\(index).", with: "layer.\(new)."))
            return TensorRecord(name: name, dtype: tensor.dtype, shape: tensor.shape, bytes: tensor.bytes)
        }
    }

    /// Rewrites a config.json for the encoder layers `kept` (in that order): the layer count
    /// (`num_hidden_layers`, or DistilBERT's `n_layers`) and a pruned model's per-layer keys
    /// (`pruned_heads`, renumbered, and `intermediate_sizes`).
    public static func keepLayers(_ kept: [Int], config path: String) throws {
        guard var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] else {
            throw ModelWriteError.output(path: path, reason: "not a JSON object")
        }
        for key in ["num_hidden_layers", "n_layers"] where json[key] != nil { json[key] = kept.count }
        if let pruned = json["pruned_heads"] as? [String: Any] {
            var renumbered: [String: Any] = [:]
            for (position, layer) in kept.enumerated() { if let heads = pruned["\(layer)"] { renumbered["\(position)"] = heads } }
            json["pruned_heads"] = renumbered
        }
        if let sizes = json["intermediate_sizes"] as? [Int] { json["intermediate_sizes"] = kept.map { sizes[$0] } }
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// The weights file before and after a rewrite, in bytes.
    public struct Sizes: Sendable {
        public let source: String, destination: String
        public let before: Int, after: Int
    }

    /// Creates `out` with every file of `model` but its weights (and training checkpoint), then
    /// writes the weights.
    public static func write(_ tensors: [TensorRecord], metadata: [String: String], from model: String, to out: String, source: String) throws(ModelWriteError) -> Sizes {
        let manager = FileManager.default
        let resolved = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        guard resolved(model) != resolved(out) else {
            throw .output(path: out, reason: "the output directory is the model directory; write the copy elsewhere")
        }
        do {
            try manager.createDirectory(atPath: out, withIntermediateDirectories: true)
            for name in try manager.contentsOfDirectory(atPath: model) where name != "model.safetensors" && name != "checkpoint" {
                let target = (out as NSString).appendingPathComponent(name)
                if manager.fileExists(atPath: target) { try manager.removeItem(atPath: target) }
                try manager.copyItem(atPath: (model as NSString).appendingPathComponent(name), toPath: target)
            }
        } catch { throw .output(path: out, reason: "cannot write: \(error.localizedDescription)") }
        let destination = (out as NSString).appendingPathComponent("model.safetensors")
        do { try SafetensorsWriter.write(tensors, metadata: metadata, to: destination) } catch { throw .output(path: destination, reason: "\(error)") }
        let before = (try? manager.attributesOfItem(atPath: source)[.size] as? Int) ?? 0
        let after = (try? manager.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
        return Sizes(source: source, destination: destination, before: before, after: after)
    }
}
