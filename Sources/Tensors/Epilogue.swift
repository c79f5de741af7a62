import CDNNL
import CKernels
import Synchronization

/// What is applied to the GEMM result in its epilogue, before it is written.
public enum Epilogue: Hashable, Sendable {
    case none
    /// The exact (erf) GELU of BERT's `hidden_act: "gelu"`.
    case geluErf
    /// The tanh approximation of GELU (`gelu_new`).
    case geluTanh
    case relu

    /// The oneDNN post-op, when oneDNN applies it. The erf GELU is applied by biotag's own
    /// vectorized kernel instead: oneDNN 2.6's AVX2 post-op costs 14% of the GEMM (measured
    /// with `biotag bench gemm --gelu`).
    var algorithm: dnnl_alg_kind_t? {
        switch self {
        case .none, .geluErf: nil
        case .geluTanh: dnnl_eltwise_gelu_tanh
        case .relu: dnnl_eltwise_relu
        }
    }

    /// The activation `biotag_dequantize_rows` applies after an int8 GEMM (its s32 sums leave
    /// no room for oneDNN's post-ops).
    var dequantizeActivation: Int32 {
        switch self {
        case .none: Int32(BIOTAG_ACTIVATION_NONE)
        case .geluErf: Int32(BIOTAG_ACTIVATION_GELU_ERF)
        case .geluTanh: Int32(BIOTAG_ACTIVATION_GELU_TANH)
        case .relu: Int32(BIOTAG_ACTIVATION_RELU)
        }
    }
}

/// The data types of one matmul: fp32 throughout, u8 activations × s8 weights → s32, or bf16
/// activations × bf16 weights → fp32.
enum MatmulTypes: Hashable, Sendable {
    case f32
    case u8s8
    case bf16

    var source: dnnl_data_type_t {
        switch self {
        case .f32: dnnl_f32
        case .u8s8: dnnl_u8
        case .bf16: dnnl_bf16
        }
    }

    var weights: dnnl_data_type_t {
        switch self {
        case .f32: dnnl_f32
        case .u8s8: dnnl_s8
        case .bf16: dnnl_bf16
        }
    }

    var destination: dnnl_data_type_t { self == .u8s8 ? dnnl_s32 : dnnl_f32 }
}
