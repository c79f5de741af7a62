import Foundation

/// `--label-bias TASK:LABEL=DELTA`: a shift of one label's logit in a head's classifier bias.
public struct LabelBias: Sendable, CustomStringConvertible {
    public let task: String
    public let label: String
    public let delta: Float

    /// Reads `TASK:LABEL=DELTA`; nil when the text is not one.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), let equals = text.lastIndex(of: "="), colon < equals else { return nil }
        let task = String(text[..<colon]), label = String(text[text.index(after: colon)..<equals])
        guard !task.isEmpty, !label.isEmpty, let delta = Float(text[text.index(after: equals)...]), delta.isFinite else { return nil }
        (self.task, self.label, self.delta) = (task, label, delta)
    }

    public var description: String { "\(task):\(label)=\(delta >= 0 ? "+" : "")\(delta)" }

    /// Adds each shift to the fp32 bias of its head's classifier among `tensors`.
    public static func apply(_ biases: [LabelBias], to tensors: inout [TensorRecord], model: String) throws(ModelWriteError) {
        let path = (model as NSString).appendingPathComponent("tasks.json")
        let specs: [TaskSpec]
        do { specs = try TaskFile.load(path: path).tasks } catch { throw .argument("--label-bias needs the model's heads: \(error.description)") }
        for bias in biases {
            guard let spec = specs.first(where: { $0.name == bias.task }) else {
                throw .argument("--label-bias \(bias.task):…: \(path) has no task '\(bias.task)' (tasks: \(specs.map(\.name).joined(separator: ", ")))")
            }
            guard let index = spec.labels.firstIndex(of: bias.label) else {
                throw .argument("--label-bias \(bias.task):\(bias.label): task '\(bias.task)' has no label '\(bias.label)' (labels: \(spec.labels.joined(separator: ", ")))")
            }
            let name = (spec.tensors["classifier"] ?? "") + ".bias"
            guard let slot = tensors.firstIndex(where: { $0.name == name }), tensors[slot].dtype == .f32, tensors[slot].shape == [spec.labels.count] else {
                throw .argument("--label-bias \(bias.task):\(bias.label): the model has no fp32 tensor \(name) of \(spec.labels.count) values")
            }
            var values = tensors[slot].bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            values[index] += bias.delta
            tensors[slot] = TensorRecord(name: name, shape: [values.count], floats: values)
        }
    }
}
