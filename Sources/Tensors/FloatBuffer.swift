/// A 64-byte aligned, uninitialised `Float` buffer with a fixed capacity.
///
/// The engine's scratch memory: activations live in these, weights are borrowed pointers into
/// memory-mapped safetensors files. Not thread-safe; each worker owns its buffers.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Grow-only scratch space: `take(count)` returns a buffer at least that large, reallocating
/// only when a larger one is needed, so steady-state inference allocates nothing.
public struct ScratchSlot: Sendable {
    private var buffer: FloatBuffer?

    public init() {}

    public mutating func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if let buffer, buffer.count >= count { return buffer.pointer }
        let fresh = FloatBuffer(count: Swift.max(count, (buffer?.count ?? 0) * 3 / 2))
        buffer = fresh
        return fresh.pointer
    }
}
