import CDNNL

/// A dense layer's parameters in Hugging Face's `nn.Linear` layout: `weight` is row-major
/// `[outFeatures, inFeatures]`, so the layer computes `y = x · weightᵀ + bias`.
///
/// The pointers borrow memory owned by `owner` (a memory-mapped file or a buffer).
public struct LinearWeight: @unchecked Sendable {
    public let weight: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>?
    public let outFeatures: Int
    public let inFeatures: Int
    let owner: AnyObject?

    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int, owner: AnyObject?) {
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.owner = owner
    }
}

/// What is applied to the GEMM result in its epilogue, before it is written.
public enum Epilogue: Hashable, Sendable {
    case none
    /// The exact (erf) GELU of BERT's `hidden_act: "gelu"`.
    case geluErf
    /// The tanh approximation of GELU (`gelu_new`).
    case geluTanh
    case relu

    var algorithm: dnnl_alg_kind_t? {
        switch self {
        case .none: nil
        case .geluErf: dnnl_eltwise_gelu_erf
        case .geluTanh: dnnl_eltwise_gelu_tanh
        case .relu: dnnl_eltwise_relu
        }
    }
}

/// One oneDNN stream plus a cache of matmul primitives keyed by shape; used by one thread at a
/// time.
final class MatmulExecutor {
    struct Key: Hashable {
        let m: Int, n: Int, k: Int, ldc: Int
        let hasBias: Bool
        let epilogue: Epilogue
    }

    final class Entry {
        let primitive: dnnl_primitive_t
        let src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t
        let bias: dnnl_memory_t?
        init(primitive: dnnl_primitive_t, src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t, bias: dnnl_memory_t?) {
            self.primitive = primitive; self.src = src; self.weights = weights; self.dst = dst; self.bias = bias
        }
        deinit {
            dnnl_primitive_destroy(primitive)
            dnnl_memory_destroy(src); dnnl_memory_destroy(weights); dnnl_memory_destroy(dst)
            if let bias { dnnl_memory_destroy(bias) }
        }
    }

    let stream: dnnl_stream_t
    private var cache: [Key: Entry] = [:]

    init() throws(DNNLError) {
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, DNNLEngine.shared.handle, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }

    /// `c[m, n] (row stride ldc) = epilogue(a[m, k] · b + bias)` where `b` is `[k, n]` stored
    /// column by column (`b[kk, j]` at `j * k + kk`), i.e. a row-major `[n, k]` weight.
    func run(_ key: Key, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>) throws(DNNLError) {
        let entry: Entry
        if let cached = cache[key] { entry = cached } else {
            entry = try Self.create(key)
            cache[key] = entry
        }
        dnnl_memory_set_data_handle(entry.src, UnsafeMutableRawPointer(mutating: a))
        dnnl_memory_set_data_handle(entry.weights, UnsafeMutableRawPointer(mutating: b))
        dnnl_memory_set_data_handle(entry.dst, UnsafeMutableRawPointer(c))
        var args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: entry.src),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: entry.weights),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: entry.dst),
        ]
        if let biasMemory = entry.bias, let bias {
            dnnl_memory_set_data_handle(biasMemory, UnsafeMutableRawPointer(mutating: bias))
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory))
        }
        try check(dnnl_primitive_execute(entry.primitive, stream, Int32(args.count), args), "dnnl_primitive_execute(matmul)")
    }

    private static func create(_ key: Key) throws(DNNLError) -> Entry {
        let engine = DNNLEngine.shared.handle
        var srcDesc = dnnl_memory_desc_t(), weightDesc = dnnl_memory_desc_t()
        var dstDesc = dnnl_memory_desc_t(), biasDesc = dnnl_memory_desc_t()
        try descriptor(&srcDesc, dims: (Int64(key.m), Int64(key.k)), strides: (Int64(key.k), 1))
        try descriptor(&weightDesc, dims: (Int64(key.k), Int64(key.n)), strides: (1, Int64(key.k)))
        try descriptor(&dstDesc, dims: (Int64(key.m), Int64(key.n)), strides: (Int64(key.ldc), 1))
        if key.hasBias {
            try descriptor(&biasDesc, dims: (1, Int64(key.n)), strides: (Int64(key.n), 1))
        }
        var opDesc = dnnl_matmul_desc_t()
        try check(
            key.hasBias
                ? dnnl_matmul_desc_init(&opDesc, &srcDesc, &weightDesc, &biasDesc, &dstDesc)
                : dnnl_matmul_desc_init(&opDesc, &srcDesc, &weightDesc, nil, &dstDesc),
            "dnnl_matmul_desc_init")

        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if let algorithm = key.epilogue.algorithm {
            var postOps: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&postOps), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(postOps) }
            try check(dnnl_post_ops_append_eltwise(postOps, 1.0, algorithm, 0, 0), "dnnl_post_ops_append_eltwise")
            try check(dnnl_primitive_attr_set_post_ops(attr, postOps), "dnnl_primitive_attr_set_post_ops")
        }
        var primitiveDesc: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&primitiveDesc, &opDesc, attr, engine, nil), "dnnl_primitive_desc_create(matmul \(key))")
        defer { dnnl_primitive_desc_destroy(primitiveDesc) }
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, primitiveDesc), "dnnl_primitive_create(matmul)")

        func memory(_ desc: inout dnnl_memory_desc_t) throws(DNNLError) -> dnnl_memory_t {
            var memory: dnnl_memory_t?
            try check(dnnl_memory_create(&memory, &desc, engine, biotag_dnnl_memory_none()), "dnnl_memory_create")
            return memory!
        }
        return Entry(
            primitive: primitive!, src: try memory(&srcDesc), weights: try memory(&weightDesc),
            dst: try memory(&dstDesc), bias: key.hasBias ? try memory(&biasDesc) : nil)
    }

    private static func descriptor(_ desc: inout dnnl_memory_desc_t, dims: (Int64, Int64), strides: (Int64, Int64)) throws(DNNLError) {
        var dimsArray = dnnl_dims_t(dims.0, dims.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var stridesArray = dnnl_dims_t(strides.0, strides.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        try check(dnnl_memory_desc_init_by_strides(&desc, 2, &dimsArray.0, dnnl_f32, &stridesArray.0), "dnnl_memory_desc_init_by_strides")
    }
}

/// Runs dense layers through oneDNN, optionally splitting each GEMM along its output features
/// over the threads of a `SpinPool`, each part a single-threaded oneDNN call.
///
/// One `GemmRunner` serves one inference worker: it is not reentrant.
public final class GemmRunner: @unchecked Sendable {
    public let pool: SpinPool
    private var executors: [MatmulExecutor]
    /// Below this many multiply-adds a GEMM runs on one thread: splitting costs more than it saves.
    public var minimumSplitWork = 1 << 18

    public init(pool: SpinPool) throws(DNNLError) {
        self.pool = pool
        var executors: [MatmulExecutor] = []
        for _ in 0..<pool.threads { executors.append(try MatmulExecutor()) }
        self.executors = executors
    }

    /// `y[rows, out] = epilogue(x[rows, in] · weightᵀ + bias)`.
    /// - Parameters:
    ///   - x: `[rows, weight.inFeatures]`, row-major.
    ///   - y: `[rows, weight.outFeatures]`, row-major.
    public func linear(_ x: UnsafePointer<Float>, rows: Int, _ weight: LinearWeight, into y: UnsafeMutablePointer<Float>, epilogue: Epilogue = .none) throws(DNNLError) {
        let n = weight.outFeatures, k = weight.inFeatures
        omp_set_num_threads(1)
        let parts = rows * n * k >= minimumSplitWork ? Swift.min(pool.threads, n / 16) : 1
        if parts <= 1 {
            let key = MatmulExecutor.Key(m: rows, n: n, k: k, ldc: n, hasBias: weight.bias != nil, epilogue: epilogue)
            try executors[0].run(key, a: x, b: weight.weight, bias: weight.bias, c: y)
            return
        }
        // Column blocks of a multiple of 16 (one AVX-512 register, two AVX2 registers).
        let block = ((n + parts - 1) / parts + 15) / 16 * 16
        var failure: DNNLError?
        pool.parallelFor(parts) { part in
            let start = part * block
            let width = Swift.min(block, n - start)
            guard width > 0 else { return }
            let key = MatmulExecutor.Key(m: rows, n: width, k: k, ldc: n, hasBias: weight.bias != nil, epilogue: epilogue)
            omp_set_num_threads(1)
            do throws(DNNLError) {
                try executors[part].run(key, a: x, b: weight.weight + start * k, bias: weight.bias.map { $0 + start }, c: y + start)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}
