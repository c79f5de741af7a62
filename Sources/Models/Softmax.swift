import Foundation

/// The probabilities of one row of logits: `target[i] = exp(logits[i] − max) / Σ`.
@inlinable
public func softmax(_ logits: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
    var largest = logits[0]
    for i in 1..<count { largest = Swift.max(largest, logits[i]) }
    var total: Float = 0
    for i in 0..<count {
        let value = expf(logits[i] - largest)
        target[i] = value
        total += value
    }
    for i in 0..<count { target[i] /= total }
}
