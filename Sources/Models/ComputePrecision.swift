import Foundation
import Synchronization
import Tensors

/// How the encoder's linear layers compute.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// fp32 everywhere.
    case fp32
    /// int8 weights (one scale per output channel) × activations quantized per token at run
    /// time, s32 sums (`biotag quantize --mode int8`).
    case int8
    /// bf16 weights and activations, fp32 sums (`biotag quantize --mode bf16`); needs
    /// AVX512-BF16 or AMX.
    case bf16

    /// The safetensors metadata key `biotag quantize` sets.
    public static let metadataKey = ModelMetadataKey.precision

    /// The precision a model file asks for (fp32 when it does not say).
    public init(metadata: [String: String]) {
        self = metadata[Self.metadataKey].flatMap(ComputePrecision.init(rawValue:)) ?? .fp32
    }

    /// What this CPU runs for `requested`: bf16 without native bf16 GEMMs runs fp32. Says once
    /// per process on stderr what it chose when that differs from the request, or when int8
    /// runs without VNNI.
    public static func effective(requested: ComputePrecision) -> ComputePrecision {
        switch requested {
        case .fp32:
            return .fp32
        case .int8:
            if !CPUFeatures.hasVNNI {
                noteOnce("int8: this CPU (\(CPUFeatures.instructionSet)) has no VNNI; oneDNN's \(CPUFeatures.instructionSet) int8 GEMM adds pairs of products in 16 bits, so each weight row gets the finest grid (±63 to ±127) that stays clear of overflow at the smallest error")
            }
            return .int8
        case .bf16:
            guard CPUFeatures.hasBF16 else {
                noteOnce("bf16: this CPU (\(CPUFeatures.instructionSet)) has no AVX512-BF16; the model runs in fp32")
                return .fp32
            }
            return .bf16
        }
    }

    private static let said = Mutex<Set<String>>([])

    static func noteOnce(_ message: String) {
        let first = said.withLock { $0.insert(message).inserted }
        if first { FileHandle.standardError.write(Data("biotag: \(message)\n".utf8)) }
    }
}
