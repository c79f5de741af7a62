import Foundation
import Tensors
import Tokenization

/// The first layers of the MLP token heads that share an activation, stacked into one
/// `[Σ inner widths, hidden]` weight: one GEMM over all those heads instead of one per head.
struct FusedHeadLayers {
    let names: [String]
    /// Column offset of each head's inner activations in the fused output.
    let offsets: [Int]
    let width: Int
    let dense: DenseWeight
    let epilogue: Epilogue

    /// - Parameter int8FromRows: when the encoder runs int8, the row count from which the
    ///   stacked layer runs int8 (quantized per output row, activations per token as the
    ///   encoder's int8 layers do; 0: always); nil runs it fp32.
    init?(_ tasks: [MultiTaskModel.Task], hidden: Int, int8FromRows: Int?) {
        var chosen: [(String, LinearWeight, Epilogue)] = []
        for task in tasks {
            guard case let .token(head) = task.head, head.shape == .mlp, let dense = head.dense, dense.inFeatures == hidden else { continue }
            if let first = chosen.first, first.2 != head.activation.epilogue { continue }
            chosen.append((task.name, dense, head.activation.epilogue))
        }
        guard chosen.count >= 2 else { return nil }
        let width = chosen.reduce(0) { $0 + $1.1.outFeatures }
        let weights = FloatBuffer(count: width * hidden), biases = FloatBuffer(count: width)
        var offsets: [Int] = [], offset = 0
        for (_, dense, _) in chosen {
            offsets.append(offset)
            (weights.pointer + offset * hidden).update(from: dense.weight, count: dense.outFeatures * hidden)
            if let bias = dense.bias { (biases.pointer + offset).update(from: bias, count: dense.outFeatures) } else { (biases.pointer + offset).update(repeating: 0, count: dense.outFeatures) }
            offset += dense.outFeatures
        }
        names = chosen.map(\.0)
        self.offsets = offsets
        self.width = width
        epilogue = chosen[0].2
        let stacked = LinearWeight(weight: weights.pointer, bias: biases.pointer, outFeatures: width, inFeatures: hidden, owner: Storage(weights, biases))
        dense = DenseWeight(stacked, int8FromRows: int8FromRows)
    }

    /// Keeps the stacked weight and bias alive as long as the `LinearWeight` that points at them.
    final class Storage {
        let buffers: [FloatBuffer]
        init(_ buffers: FloatBuffer...) { self.buffers = buffers }
    }
}
