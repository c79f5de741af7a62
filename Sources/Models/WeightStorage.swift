import Foundation

/// How a model directory stores its dense weights on disk. Computation is fp32 either way:
/// compact forms are widened when the model loads.
public enum WeightStorage: String, Sendable, CaseIterable {
    case f32
    /// Half precision: half the size, about 3 significant digits.
    case f16
    /// bfloat16 (fp32's exponent, 8 significant bits): half the size; the form the bf16
    /// GEMMs read (`biotag quantize --mode bf16`).
    case bf16
    /// Symmetric int8 with one scale per output row (`<name>.scale`, `[rows]`, fp16 where every
    /// scale is a normal fp16 number, fp32 otherwise): a quarter of the size; every weight within
    /// half a step (row max / 254, rounded up to fp16) of its fp32 value.
    case int8
    /// Symmetric int8 with one scale per 32 consecutive values of a row (`<name>.scale`,
    /// `[rows, width / 32]`, fp16 or fp32 as for `int8`): 26.6% of the size, the step set by the
    /// group's largest value rather than the row's.
    case int8g32 = "int8-g32"

    /// Rewrites the rank-2 `.weight` tensors (dense layers and embedding tables) of a model's
    /// tensors in this storage; biases and LayerNorm parameters stay fp32.
    public func convert(_ tensors: [TensorRecord]) -> [TensorRecord] {
        StoragePlan(default: self).convert(tensors)
    }

    /// One rank-2 weight in this storage: the tensor, plus its scales for the int8 forms.
    public func encode(_ tensor: TensorRecord) -> [TensorRecord] {
        let values = tensor.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        switch self {
        case .f32:
            return [tensor]
        case .f16:
            let halves = values.map { Float16($0).bitPattern }
            return [TensorRecord(name: tensor.name, dtype: .f16, shape: tensor.shape, bytes: halves.withUnsafeBufferPointer { Data(buffer: $0) })]
        case .bf16:
            // Round to nearest even on the upper 16 bits.
            let halves = values.map { value -> UInt16 in
                let bits = value.bitPattern
                return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
            }
            return [TensorRecord(name: tensor.name, dtype: .bf16, shape: tensor.shape, bytes: halves.withUnsafeBufferPointer { Data(buffer: $0) })]
        case .int8, .int8g32:
            let rows = tensor.shape[0], width = tensor.shape[1]
            let group = self == .int8g32 && width % 32 == 0 ? 32 : width
            let groups = width / group
            let largest = (0..<(rows * groups)).map { index in values[(index * group)..<((index + 1) * group)].reduce(Float(0)) { max($0, abs($1)) } }
            // Scales are stored fp16 (half the bytes of fp32: 0.2 MB of the default model's FFN
            // layers) when every one is a normal fp16 number: each is rounded up to the next fp16
            // value before quantizing, so the stored scale is exactly the one the int8 values were
            // made with and no value clips; the step grows by at most 2^-10. Otherwise fp32.
            let halfScales = largest.map { $0 > 0 ? Float16.roundedUp($0 / 127) : 1 }
            let halves = halfScales.allSatisfy(\.isNormal)
            let scales = halves ? halfScales.map(Float.init) : largest.map { $0 > 0 ? $0 / 127 : 1 }
            var quantized = [Int8](repeating: 0, count: values.count)
            for index in 0..<(rows * groups) {
                let scale = scales[index]
                for i in (index * group)..<((index + 1) * group) { quantized[i] = Int8((values[i] / scale).rounded().clamped(to: -127...127)) }
            }
            let scaleName = tensor.name + SafetensorsFile.scaleSuffix, scaleShape = groups == 1 ? [rows] : [rows, groups]
            let scaleRecord = halves
                ? TensorRecord(name: scaleName, dtype: .f16, shape: scaleShape, bytes: halfScales.map(\.bitPattern).withUnsafeBufferPointer { Data(buffer: $0) })
                : TensorRecord(name: scaleName, shape: scaleShape, floats: scales)
            return [TensorRecord(name: tensor.name, dtype: .i8, shape: tensor.shape, bytes: quantized.withUnsafeBufferPointer { Data(buffer: $0) }), scaleRecord]
        }
    }
}

/// Which storage each weight gets: a default, and rules `part=form` that give every tensor whose
/// name contains `part` another form (the last matching rule wins). Keeps the layers that lose
/// accuracy in int8 (say `attention` or `heads.`) in fp16 or fp32 while the rest shrinks.
public struct StoragePlan: Sendable, CustomStringConvertible {
    public var defaultStorage: WeightStorage
    public var rules: [(part: String, storage: WeightStorage)]

    public init(default storage: WeightStorage, rules: [(part: String, storage: WeightStorage)] = []) {
        self.defaultStorage = storage
        self.rules = rules
    }

    /// Parses a rule written `part=form`, e.g. `attention=f16`.
    public static func rule(_ text: String) -> (part: String, storage: WeightStorage)? {
        guard let equals = text.lastIndex(of: "="), equals != text.startIndex,
              let storage = WeightStorage(rawValue: String(text[text.index(after: equals)...])) else { return nil }
        return (String(text[..<equals]), storage)
    }

    public func storage(for name: String) -> WeightStorage {
        rules.last { name.contains($0.part) }?.storage ?? defaultStorage
    }

    /// Rewrites the rank-2 `.weight` tensors (dense layers and embedding tables) by the plan;
    /// biases and LayerNorm parameters stay fp32.
    public func convert(_ tensors: [TensorRecord]) -> [TensorRecord] {
        tensors.flatMap { tensor -> [TensorRecord] in
            guard tensor.dtype == .f32, tensor.shape.count == 2, tensor.name.hasSuffix(".weight"), !tensor.name.contains("LayerNorm"),
                  !tensor.name.contains("layer_norm") else { return [tensor] }
            return storage(for: tensor.name).encode(tensor)
        }
    }

    public var description: String {
        ([defaultStorage.rawValue] + rules.map { "\($0.part)=\($0.storage.rawValue)" }).joined(separator: ",")
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}

extension Float16 {
    /// The smallest fp16 value not below `value` (infinity past the largest finite one).
    static func roundedUp(_ value: Float) -> Float16 {
        let nearest = Float16(value)
        return Float(nearest) >= value ? nearest : nearest.nextUp
    }
}
