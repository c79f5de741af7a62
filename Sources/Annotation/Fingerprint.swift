/// 64-bit FNV-1a: a fast, stable fingerprint for telling contents apart (model weights, record
/// texts) — an identity, not a security check. Written here rather than pulling in a crypto
/// library: nothing in biotag needs collision resistance against an adversary.
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func combine(_ bytes: UnsafeRawBufferPointer) {
        var hash = value
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        value = hash
    }

    public mutating func combine(_ text: String) {
        var copy = text
        copy.withUTF8 { combine(UnsafeRawBufferPointer($0)) }
        combine(Int64(text.utf8.count))  // a length after each string keeps "ab"+"c" apart from "a"+"bc"
    }

    public mutating func combine(_ number: Int64) {
        withUnsafeBytes(of: number.littleEndian) { combine($0) }
    }

    /// 16 hexadecimal digits.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension Document {
    /// A fingerprint of what annotation reads: every passage's text, offset and infons.
    public var contentFingerprint: String {
        var hash = FNV1a64()
        for passage in passages {
            hash.combine(passage.text)
            hash.combine(Int64(passage.offset))
            for (key, value) in passage.infons.sorted(by: { $0.key < $1.key }) { hash.combine(key); hash.combine(value) }
        }
        return hash.hex
    }
}
