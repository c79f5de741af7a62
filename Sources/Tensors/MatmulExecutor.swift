import CDNNL
import CKernels
import Synchronization

/// One oneDNN stream plus a cache of matmul primitives keyed by shape; used by one thread at a
/// time.
final class MatmulExecutor {
    struct Key: Hashable {
        let m: Int, n: Int, k: Int, lda: Int, ldc: Int
        let hasBias: Bool
        let epilogue: Epilogue
        /// Let oneDNN choose a blocked weight layout; weights are reordered into it once.
        let packed: Bool
        var types: MatmulTypes = .f32
    }

    final class Entry {
        let primitive: dnnl_primitive_t
        let src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t
        let bias: dnnl_memory_t?
        /// The primitive's scratch memory (pointed at the executor's shared scratchpad), if any.
        var scratchpad: dnnl_memory_t?
        var scratchpadBytes = 0
        /// The weight layout the primitive expects, when it is not the plain one.
        let packedLayout: Int?
        init(primitive: dnnl_primitive_t, src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t, bias: dnnl_memory_t?, packedLayout: Int?) {
            self.primitive = primitive; self.src = src; self.weights = weights; self.dst = dst; self.bias = bias
            self.packedLayout = packedLayout
        }
        deinit {
            dnnl_primitive_destroy(primitive)
            dnnl_memory_destroy(src); dnnl_memory_destroy(weights); dnnl_memory_destroy(dst)
            if let bias { dnnl_memory_destroy(bias) }
            if let scratchpad { dnnl_memory_destroy(scratchpad) }
        }
    }

    static let cacheLimit = 512
    let stream: dnnl_stream_t
    /// One scratchpad for every primitive of this executor (they never run at once), grown to
    /// the largest one needs: with oneDNN's default, each cached primitive keeps its own.
    private var scratchpad = ScratchSlot()
    private var cache: [Key: Entry] = [:]
    /// Distinct blocked weight layouts chosen by primitives so far.
    private var layouts: [dnnl_memory_desc_t] = []
    /// Weights reordered into a blocked layout: (source address, layout index) → copy.
    private var packedWeights: [PackedKey: FloatBuffer] = [:]

    struct PackedKey: Hashable { let address: Int; let layout: Int }

    init() throws(DNNLError) {
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, DNNLEngine.shared.handle, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }

    /// `c[m, n] (row stride ldc) = epilogue(a[m, k] · b + bias)` where `b` is `[k, n]` stored
    /// column by column (`b[kk, j]` at `j * k + kk`), i.e. a row-major `[n, k]` weight.
    /// With `.u8s8` types, `a` is u8, `b` s8 and `c` s32 (no bias, no epilogue); with `.bf16`,
    /// `a` and `b` are bf16 and `c` fp32.
    /// - Parameter shared: where the layer keeps its packed copies for every worker (nil: this
    ///   executor packs its own).
    func run(_ key: Key, a: UnsafeRawPointer, b: UnsafeRawPointer, bias: UnsafePointer<Float>?, c: UnsafeMutableRawPointer, shared: PackedWeights? = nil) throws(DNNLError) {
        let entry: Entry
        if let cached = cache[key] { entry = cached } else {
            // Packed batches bring a new row count almost every call; bound the cache (the
            // packed weights survive: they depend on the layout, not on the row count).
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            entry = try create(key)
            cache[key] = entry
        }
        var weights = b
        if let layout = entry.packedLayout {
            let packedKey = PackedKey(address: Int(bitPattern: b), layout: layout)
            if let packed = packedWeights[packedKey] {
                weights = UnsafeRawPointer(packed.pointer)
            } else {
                let make = { () throws(DNNLError) -> FloatBuffer in try self.pack(b, k: key.k, n: key.n, type: key.types.weights, into: layout) }
                let packed: FloatBuffer
                if let shared { packed = try shared.copy(of: b, layout: layouts[layout], make: make) } else { packed = try make() }
                packedWeights[packedKey] = packed
                weights = UnsafeRawPointer(packed.pointer)
            }
        }
        dnnl_memory_set_data_handle(entry.src, UnsafeMutableRawPointer(mutating: a))
        dnnl_memory_set_data_handle(entry.weights, UnsafeMutableRawPointer(mutating: weights))
        dnnl_memory_set_data_handle(entry.dst, UnsafeMutableRawPointer(c))
        if let memory = entry.scratchpad {
            dnnl_memory_set_data_handle(memory, UnsafeMutableRawPointer(scratchpad.take((entry.scratchpadBytes + 3) / 4)))
        }
        // On the stack: this runs for every GEMM, and an array would allocate each time.
        let status = withUnsafeTemporaryAllocation(of: dnnl_exec_arg_t.self, capacity: 5) { args in
            args[0] = dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: entry.src)
            args[1] = dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: entry.weights)
            args[2] = dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: entry.dst)
            var count: Int32 = 3
            if let biasMemory = entry.bias, let bias {
                dnnl_memory_set_data_handle(biasMemory, UnsafeMutableRawPointer(mutating: bias))
                args[Int(count)] = dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory)
                count += 1
            }
            if let memory = entry.scratchpad {
                args[Int(count)] = dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory)
                count += 1
            }
            return dnnl_primitive_execute(entry.primitive, stream, count, args.baseAddress)
        }
        try check(status, "dnnl_primitive_execute(matmul)")
    }

    /// Reorders a plain `[n, k]` weight into blocked layout number `layout`.
    private func pack(_ b: UnsafeRawPointer, k: Int, n: Int, type: dnnl_data_type_t, into layout: Int) throws(DNNLError) -> FloatBuffer {
        let engine = DNNLEngine.shared.handle
        var plain = dnnl_memory_desc_t()
        try Self.descriptor(&plain, dims: (Int64(k), Int64(n)), strides: (1, Int64(k)), type: type)
        var target = layouts[layout]
        let buffer = FloatBuffer(count: (dnnl_memory_desc_get_size(&target) + 3) / 4)
        var reorderDesc: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&reorderDesc, &plain, engine, &target, engine, nil), "dnnl_reorder_primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(reorderDesc) }
        var reorder: dnnl_primitive_t?
        try check(dnnl_primitive_create(&reorder, reorderDesc), "dnnl_primitive_create(reorder)")
        defer { dnnl_primitive_destroy(reorder) }
        var source: dnnl_memory_t?, destination: dnnl_memory_t?
        try check(dnnl_memory_create(&source, &plain, engine, UnsafeMutableRawPointer(mutating: b)), "dnnl_memory_create")
        defer { dnnl_memory_destroy(source) }
        try check(dnnl_memory_create(&destination, &target, engine, UnsafeMutableRawPointer(buffer.pointer)), "dnnl_memory_create")
        defer { dnnl_memory_destroy(destination) }
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: destination)]
        try check(dnnl_primitive_execute(reorder, stream, 2, args), "dnnl_primitive_execute(reorder)")
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
        return buffer
    }

    private func create(_ key: Key) throws(DNNLError) -> Entry {
        let engine = DNNLEngine.shared.handle
        var srcDesc = dnnl_memory_desc_t(), weightDesc = dnnl_memory_desc_t()
        var dstDesc = dnnl_memory_desc_t(), biasDesc = dnnl_memory_desc_t()
        let types = key.types
        try Self.descriptor(&srcDesc, dims: (Int64(key.m), Int64(key.k)), strides: (Int64(key.lda), 1), type: types.source)
        if key.packed {
            var dims = dnnl_dims_t(Int64(key.k), Int64(key.n), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let status = withUnsafePointer(to: &dims) {
                $0.withMemoryRebound(to: Int64.self, capacity: 12) { dnnl_memory_desc_init_by_tag(&weightDesc, 2, $0, types.weights, dnnl_format_tag_any) }
            }
            try check(status, "dnnl_memory_desc_init_by_tag(any)")
        } else {
            try Self.descriptor(&weightDesc, dims: (Int64(key.k), Int64(key.n)), strides: (1, Int64(key.k)), type: types.weights)
        }
        try Self.descriptor(&dstDesc, dims: (Int64(key.m), Int64(key.n)), strides: (Int64(key.ldc), 1), type: types.destination)
        if key.hasBias {
            try Self.descriptor(&biasDesc, dims: (1, Int64(key.n)), strides: (Int64(key.n), 1))
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
        try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "dnnl_primitive_attr_set_scratchpad_mode")
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
        var packedLayout: Int?
        if key.packed, let chosen = dnnl_primitive_desc_query_md(primitiveDesc, dnnl_query_weights_md, 0) {
            weightDesc = chosen.pointee
            var plain = dnnl_memory_desc_t()
            try Self.descriptor(&plain, dims: (Int64(key.k), Int64(key.n)), strides: (1, Int64(key.k)), type: types.weights)
            if dnnl_memory_desc_equal(&plain, &weightDesc) == 0 {
                if let known = layouts.firstIndex(where: { var candidate = $0; return dnnl_memory_desc_equal(&candidate, &weightDesc) != 0 }) {
                    packedLayout = known
                } else {
                    layouts.append(weightDesc)
                    packedLayout = layouts.count - 1
                }
            }
        }

        func memory(_ desc: inout dnnl_memory_desc_t) throws(DNNLError) -> dnnl_memory_t {
            var memory: dnnl_memory_t?
            try check(dnnl_memory_create(&memory, &desc, engine, biotag_dnnl_memory_none()), "dnnl_memory_create")
            return memory!
        }
        let entry = Entry(
            primitive: primitive!, src: try memory(&srcDesc), weights: try memory(&weightDesc),
            dst: try memory(&dstDesc), bias: key.hasBias ? try memory(&biasDesc) : nil, packedLayout: packedLayout)
        if let scratchDesc = dnnl_primitive_desc_query_md(primitiveDesc, dnnl_query_scratchpad_md, 0) {
            var desc = scratchDesc.pointee
            let bytes = dnnl_memory_desc_get_size(&desc)
            if bytes > 0 {
                entry.scratchpad = try memory(&desc)
                entry.scratchpadBytes = bytes
            }
        }
        return entry
    }

    private static func descriptor(_ desc: inout dnnl_memory_desc_t, dims: (Int64, Int64), strides: (Int64, Int64), type: dnnl_data_type_t = dnnl_f32) throws(DNNLError) {
        // `&tuple.0` would point at one element only: pass the whole fixed-size array.
        var dimsArray = dnnl_dims_t(dims.0, dims.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var stridesArray = dnnl_dims_t(strides.0, strides.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let status = withUnsafePointer(to: &dimsArray) { dimsPointer in
            withUnsafePointer(to: &stridesArray) { stridesPointer in
                dimsPointer.withMemoryRebound(to: Int64.self, capacity: 12) { dimsValues in
                    stridesPointer.withMemoryRebound(to: Int64.self, capacity: 12) { strideValues in
                        dnnl_memory_desc_init_by_strides(&desc, 2, dimsValues, type, strideValues)
                    }
                }
            }
        }
        try check(status, "dnnl_memory_desc_init_by_strides")
    }
}
