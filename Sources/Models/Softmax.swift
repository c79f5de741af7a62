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

/// The log-probabilities of one row of logits: `target[i] = logits[i] − log Σ exp(logits)`.
@inlinable
public func logSoftmax(_ logits: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
    var largest = -Float.infinity
    for i in 0..<count { largest = Swift.max(largest, logits[i]) }
    var total: Float = 0
    for i in 0..<count { total += expf(logits[i] - largest) }
    let logTotal = logf(total) + largest
    for i in 0..<count { target[i] = logits[i] - logTotal }
}
