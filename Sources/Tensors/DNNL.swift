import CDNNL
import CKernels

/// A failed oneDNN call: which function, with what status.
public struct DNNLError: Error, CustomStringConvertible {
    public let call: String
    public let status: dnnl_status_t
    public var description: String { "oneDNN call \(call) failed with status \(status.rawValue)" }
}

@inline(__always)
func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws(DNNLError) {
    if status != dnnl_success { throw DNNLError(call: call(), status: status) }
}

/// The process-wide oneDNN CPU engine.
public final class DNNLEngine: @unchecked Sendable {
    public let handle: dnnl_engine_t

    public static let shared: DNNLEngine = {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        precondition(status == dnnl_success && engine != nil, "oneDNN could not create a CPU engine")
        return DNNLEngine(handle: engine!)
    }()

    private init(handle: dnnl_engine_t) { self.handle = handle }
}

/// What the CPU offers the engine, as oneDNN sees it.
public enum CPUFeatures {
    /// The widest instruction set oneDNN will dispatch to on this machine.
    public static var instructionSet: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_sse41: return "sse41"
        default: return "other"
        }
    }

    /// Whether oneDNN's int8 kernels can use VNNI (`vpdpbusd`), which sums u8 × s8 products in
    /// 32 bits. AVX2-VNNI is not counted: oneDNN 2.6's int8 GEMM has no kernel for it.
    public static var hasVNNI: Bool {
        ["avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"].contains(instructionSet)
    }

    /// What biotag's own C kernels (attention, GELU, quantizing passes) run: the widest of
    /// their versions this CPU takes, unless the build left out the AVX-512 ones.
    public static var kernelInstructionSet: String {
        biotag_kernels_max_avx2() != 0 ? "at most AVX2 (built with BIOTAG_KERNELS_MAX_AVX2)" : "AVX-512 where the CPU has it"
    }

    /// Whether oneDNN can run bf16 GEMMs natively (AVX512-BF16 or AMX).
    public static var hasBF16: Bool {
        ["avx512_core_bf16", "avx512_core_amx"].contains(instructionSet)
    }

    /// oneDNN's version, e.g. "2.6.3".
    public static var dnnlVersion: String {
        guard let version = dnnl_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.patch)"
    }
}
