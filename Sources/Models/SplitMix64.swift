import Foundation

/// SplitMix64: a small, fast, seeded generator, so that the same seed gives the same weights on
/// every platform (`init-model`, tests).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Standard normal samples from SplitMix64 through Box–Muller: reproducible across platforms.
public struct SeededNormal: Sendable {
    private var generator: SplitMix64
    private var spare: Double?

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    private mutating func uniform() -> Double {
        (Double(generator.next() >> 11) + 0.5) / Double(1 << 53)
    }

    public mutating func next() -> Double {
        if let spare { self.spare = nil; return spare }
        let radius = (-2 * log(uniform())).squareRoot(), angle = 2 * Double.pi * uniform()
        spare = radius * sin(angle)
        return radius * cos(angle)
    }
}
