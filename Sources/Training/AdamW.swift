import Foundation
import Models
import Tensors

/// AdamW (decoupled weight decay) over a `ParameterStore`, in the same order of operations as
/// `torch.optim.AdamW` (single-tensor path), so one step reproduces PyTorch to float rounding.
/// Weight decay applies only to parameters marked `decay` (not biases or LayerNorm).
public final class AdamW: @unchecked Sendable {
    public let store: ParameterStore
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var weightDecay: Double = 0.01
    /// Steps taken so far.
    public private(set) var step = 0
    let firstMoment: FloatBuffer
    let secondMoment: FloatBuffer

    public init(store: ParameterStore) {
        self.store = store
        firstMoment = FloatBuffer(count: store.count)
        secondMoment = FloatBuffer(count: store.count)
        firstMoment.pointer.update(repeating: 0, count: store.count)
        secondMoment.pointer.update(repeating: 0, count: store.count)
    }

    /// Updates every parameter from its gradient with learning rate `learningRate`.
    public func update(learningRate: Double, pool: SpinPool? = nil) {
        step += 1
        let correction1 = 1 - Foundation.pow(beta1, Double(step))
        let correction2Root = (1 - Foundation.pow(beta2, Double(step))).squareRoot()
        let stepSize = Float(learningRate / correction1)
        let b1 = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2)
        let root = Float(correction2Root), eps = Float(epsilon)
        let values = store.values.pointer, gradients = store.gradients.pointer
        let m = firstMoment.pointer, v = secondMoment.pointer
        for parameter in store.parameters {
            let decay = parameter.decay ? Float(1 - learningRate * weightDecay) : 1
            let update = { (range: Range<Int>) in
                for i in range {
                    let g = gradients[i]
                    values[i] *= decay
                    m[i] += (g - m[i]) * b1
                    v[i] = v[i] * b2 + oneMinusB2 * g * g
                    values[i] -= stepSize * (m[i] / (v[i].squareRoot() / root + eps))
                }
            }
            let range = parameter.offset..<(parameter.offset + parameter.count)
            if let pool, parameter.count >= 1 << 16 {
                let chunk = (range.count + pool.threads - 1) / pool.threads
                pool.parallelFor(pool.threads) { part in
                    let start = range.lowerBound + part * chunk
                    update(start..<Swift.min(range.upperBound, start + chunk))
                }
            } else {
                update(range)
            }
        }
    }

    /// The moments and step count, for a checkpoint.
    public func records() -> [TensorRecord] {
        [TensorRecord(name: "adamw.first_moment", shape: [store.count], floats: UnsafeBufferPointer(start: firstMoment.pointer, count: store.count)),
         TensorRecord(name: "adamw.second_moment", shape: [store.count], floats: UnsafeBufferPointer(start: secondMoment.pointer, count: store.count)),
         TensorRecord(name: "adamw.step", shape: [1], int32: [Int32(step)])]
    }

    /// Restores what `records()` saved.
    public func restore(from file: SafetensorsFile) throws(SafetensorsError) {
        let first = try file.floats("adamw.first_moment", shape: [store.count])
        let second = try file.floats("adamw.second_moment", shape: [store.count])
        firstMoment.pointer.update(from: first.pointer, count: store.count)
        secondMoment.pointer.update(from: second.pointer, count: store.count)
        step = try file.integers("adamw.step").first ?? 0
    }
}

/// Linear warm-up from 0 to the peak rate, then linear decay to 0 at the last step
/// (`transformers`' `get_linear_schedule_with_warmup`; step 0 runs at rate 0 when there is
/// warm-up, as there).
public struct LinearSchedule: Sendable {
    public let peak: Double
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        return peak * max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
    }
}
