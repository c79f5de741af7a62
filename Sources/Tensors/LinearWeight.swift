import CDNNL
import CKernels
import Synchronization

/// A dense layer's parameters in Hugging Face's `nn.Linear` layout: `weight` is row-major
/// `[outFeatures, inFeatures]`, so the layer computes `y = x · weightᵀ + bias`.
///
/// The pointers borrow memory owned by `owner` (a memory-mapped file or a buffer).
public struct LinearWeight: @unchecked Sendable {
    public let weight: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>?
    public let outFeatures: Int
    public let inFeatures: Int
    public let owner: AnyObject?
    /// Its copies in oneDNN's blocked layouts, shared by every worker that runs it.
    public let packed = PackedWeights()

    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int, owner: AnyObject?) {
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.owner = owner
    }
}

extension LinearWeight {
    /// The same layer with a cache of packed copies of its own, which goes with it (for runs,
    /// such as timing ones, whose packed layouts the model's workers would never use).
    public var withOwnPackedCopies: LinearWeight {
        LinearWeight(weight: weight, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures, owner: owner)
    }
}

/// A layer's weights reordered into the blocked layouts oneDNN's primitives chose, one copy per
/// (column block, layout) for all the workers and threads that run the layer (rather than one
/// per worker), alive as long as the layer.
public final class PackedWeights: @unchecked Sendable {
    final class Entry: @unchecked Sendable {
        let layout: dnnl_memory_desc_t
        let buffer: FloatBuffer
        init(layout: dnnl_memory_desc_t, buffer: FloatBuffer) { self.layout = layout; self.buffer = buffer }
    }

    private let entries = Mutex<[Int: [Entry]]>([:])

    public init() {}

    /// The copy of the weights at `address` in `layout`, made by `make` the first time.
    func copy(of address: UnsafeRawPointer, layout: dnnl_memory_desc_t, make: () throws(DNNLError) -> FloatBuffer) throws(DNNLError) -> FloatBuffer {
        let key = Int(bitPattern: address)
        let result: Result<FloatBuffer, DNNLError> = entries.withLock { entries in
            if let found = entries[key]?.first(where: { entry in
                var a = entry.layout, b = layout
                return dnnl_memory_desc_equal(&a, &b) != 0
            }) {
                return .success(found.buffer)
            }
            do throws(DNNLError) {
                let buffer = try make()
                entries[key, default: []].append(Entry(layout: layout, buffer: buffer))
                return .success(buffer)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
