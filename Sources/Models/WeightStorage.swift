import Foundation

/// How a model directory stores its dense weights on disk. Computation is fp32 either way:
/// compact forms are widened when the model loads.
public enum WeightStorage: String, Sendable, CaseIterable {
    case f32
    /// Half precision: half the size, about 3 significant digits.
    case f16
    /// Symmetric int8 with one fp32 scale per output row (`<name>.scale`, `[rows]`): a quarter
    /// of the size; every weight within half a step (row max / 254) of its fp32 value.
    case int8
    /// Symmetric int8 with one fp32 scale per 32 consecutive values of a row (`<name>.scale`,
    /// `[rows, width / 32]`): 28% of the size, the step set by the group's largest value rather
    /// than the row's.
    case int8g32 = "int8-g32"

    /// Rewrites the rank-2 `.weight` tensors (dense layers and embedding tables) of a model's
    /// tensors in this storage; biases and LayerNorm parameters stay fp32.
    public func convert(_ tensors: [TensorRecord]) -> [TensorRecord] {
        guard self != .f32 else { return tensors }
        var result: [TensorRecord] = []
        for tensor in tensors {
            guard tensor.dtype == .f32, tensor.shape.count == 2, tensor.name.hasSuffix(".weight"), !tensor.name.contains("LayerNorm"),
                  !tensor.name.contains("layer_norm") else { result.append(tensor); continue }
            let values = tensor.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            switch self {
            case .f32:
                result.append(tensor)
            case .f16:
                let halves = values.map { Float16($0).bitPattern }
                result.append(TensorRecord(name: tensor.name, dtype: .f16, shape: tensor.shape, bytes: halves.withUnsafeBufferPointer { Data(buffer: $0) }))
            case .int8, .int8g32:
                let rows = tensor.shape[0], width = tensor.shape[1]
                let group = self == .int8g32 && width % 32 == 0 ? 32 : width
                let groups = width / group
                var quantized = [Int8](repeating: 0, count: values.count)
                var scales = [Float](repeating: 0, count: rows * groups)
                for index in 0..<(rows * groups) {
                    let slice = values[(index * group)..<((index + 1) * group)]
                    let largest = slice.map(abs).max() ?? 0
                    let scale = largest > 0 ? largest / 127 : 1
                    scales[index] = scale
                    for (i, value) in slice.enumerated() { quantized[index * group + i] = Int8((value / scale).rounded().clamped(to: -127...127)) }
                }
                result.append(TensorRecord(name: tensor.name, dtype: .i8, shape: tensor.shape, bytes: quantized.withUnsafeBufferPointer { Data(buffer: $0) }))
                result.append(TensorRecord(name: tensor.name + SafetensorsFile.scaleSuffix, shape: groups == 1 ? [rows] : [rows, groups], floats: scales))
            }
        }
        return result
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
