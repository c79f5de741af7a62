import Models
import Tensors

/// One trainable tensor: a slice of the store's flat buffers.
public struct Parameter: Sendable {
    /// The checkpoint names it is saved under; a tensor stored fused (Q, K and V) is cut into
    /// equal parts along its first dimension, one per name.
    public let names: [String]
    public let shape: [Int]
    public let offset: Int
    /// AdamW decays weights, never biases or LayerNorm parameters.
    public let decay: Bool
    public var count: Int { shape.reduce(1, *) }
}

/// A dense layer's weight `[out, in]` and bias `[out]`.
public struct LinearParameters: Sendable {
    public let weight: Parameter
    public let bias: Parameter
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
}

/// LayerNorm gamma and beta.
public struct NormParameters: Sendable {
    public let gamma: Parameter
    public let beta: Parameter
}

/// Every trainable value of a model in one flat buffer, with a gradient buffer of the same
/// layout, so the optimizer, gradient clipping and zeroing are single loops.
public final class ParameterStore: @unchecked Sendable {
    public private(set) var parameters: [Parameter] = []
    public private(set) var count = 0
    public private(set) var values = FloatBuffer(count: 0)
    public private(set) var gradients = FloatBuffer(count: 0)
    private var allocated = false

    public init() {}

    /// Declares a parameter; allowed only before `allocate()`.
    public func add(_ names: [String], shape: [Int], decay: Bool) -> Parameter {
        precondition(!allocated, "parameters are declared before the store is allocated")
        // 16-float alignment keeps every tensor on its own cache lines.
        let parameter = Parameter(names: names, shape: shape, offset: count, decay: decay)
        count += (parameter.count + 15) / 16 * 16
        parameters.append(parameter)
        return parameter
    }

    public func linear(_ prefixes: [String], out: Int, in inFeatures: Int) -> LinearParameters {
        LinearParameters(weight: add(prefixes.map { $0 + ".weight" }, shape: [out, inFeatures], decay: true),
                         bias: add(prefixes.map { $0 + ".bias" }, shape: [out], decay: false))
    }

    public func norm(_ prefix: String, width: Int) -> NormParameters {
        NormParameters(gamma: add([prefix + ".weight"], shape: [width], decay: false),
                       beta: add([prefix + ".bias"], shape: [width], decay: false))
    }

    /// Allocates the value and gradient buffers (values zeroed).
    public func allocate() {
        values = FloatBuffer(count: count)
        gradients = FloatBuffer(count: count)
        values.pointer.update(repeating: 0, count: count)
        gradients.pointer.update(repeating: 0, count: count)
        allocated = true
    }

    public func value(_ parameter: Parameter) -> UnsafeMutablePointer<Float> { values.pointer + parameter.offset }
    public func gradient(_ parameter: Parameter) -> UnsafeMutablePointer<Float> { gradients.pointer + parameter.offset }

    public func zeroGradients() { gradients.pointer.update(repeating: 0, count: count) }

    /// Moves the gradients into `buffer` (at least `count` long) and zeroes them, so that a
    /// second loss's gradients can be measured and clipped on their own before `addGradients`.
    public func setGradientsAside(into buffer: FloatBuffer) {
        precondition(buffer.count >= count, "the buffer holds every gradient")
        buffer.pointer.update(from: gradients.pointer, count: count)
        zeroGradients()
    }

    /// Adds `buffer`'s first `count` values to the gradients.
    public func addGradients(_ buffer: FloatBuffer) {
        let g = gradients.pointer, b = buffer.pointer
        for i in 0..<count { g[i] += b[i] }
    }

    /// The L2 norm of all gradients together.
    public func gradientNorm() -> Double {
        var total = 0.0
        var i = 0
        let g = gradients.pointer
        while i < count {
            let end = Swift.min(count, i + 4096)
            var partial: Float = 0
            for j in i..<end { partial += g[j] * g[j] }
            total += Double(partial)
            i = end
        }
        return total.squareRoot()
    }

    /// Scales all gradients so that their norm is at most `maxNorm` (PyTorch's
    /// `clip_grad_norm_`: coefficient `maxNorm / (norm + 1e-6)`, applied only when below 1).
    /// - Returns: the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Double) -> Double {
        let norm = gradientNorm()
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            let scale = Float(coefficient)
            let g = gradients.pointer
            for i in 0..<count { g[i] *= scale }
        }
        return norm
    }

    /// Each parameter under its checkpoint names (fused tensors cut back into their parts).
    public func records(from buffer: FloatBuffer? = nil) -> [TensorRecord] {
        let base = (buffer ?? values).pointer
        var records: [TensorRecord] = []
        for parameter in parameters {
            let parts = parameter.names.count
            let partRows = parameter.shape[0] / parts
            let rowSize = parameter.count / parameter.shape[0]
            for (index, name) in parameter.names.enumerated() {
                let start = base + parameter.offset + index * partRows * rowSize
                records.append(TensorRecord(name: name, shape: [partRows] + parameter.shape.dropFirst(),
                                            floats: UnsafeBufferPointer(start: start, count: partRows * rowSize)))
            }
        }
        return records
    }

    /// Fills one parameter from a checkpoint, its parts read under `names` (its own by default).
    public func load(_ parameter: Parameter, names: [String]? = nil, from file: SafetensorsFile, into buffer: FloatBuffer? = nil) throws(ModelLoadError) {
        let base = (buffer ?? values).pointer
        let names = names ?? parameter.names
        let partRows = parameter.shape[0] / names.count
        let rowSize = parameter.count / parameter.shape[0]
        for (index, name) in names.enumerated() {
            let tensor: FloatTensor
            do { tensor = try file.floats(name, shape: [partRows] + parameter.shape.dropFirst()) } catch let .wrongShape(file, tensor, expected, found) {
                throw .shapeMismatch(file: file, tensor: tensor, expected: expected, found: found)
            } catch {
                throw .weights(error)
            }
            (base + parameter.offset + index * partRows * rowSize).update(from: tensor.pointer, count: partRows * rowSize)
        }
    }

    /// Fills every parameter from a checkpoint written by `records(from:)`.
    public func loadAll(from file: SafetensorsFile, into buffer: FloatBuffer? = nil) throws(ModelLoadError) {
        for parameter in parameters { try load(parameter, from: file, into: buffer) }
    }
}
