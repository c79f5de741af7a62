/// A trie over Unicode scalars for WordPiece's greedy longest-match-first search, so that a
/// word is matched without building a `String` per candidate piece.
struct WordPieceTrie: Sendable {
    /// Edge `(node << 21) | scalar` → child node.
    private var edges: [UInt64: Int32] = [:]
    /// Token id ending at each node, or -1.
    private var tokenIds: [Int32] = [-1]

    mutating func insert<S: Sequence>(_ scalars: S, id: Int32) where S.Element == Unicode.Scalar {
        var node: Int32 = 0
        for scalar in scalars {
            let key = UInt64(node) << 21 | UInt64(scalar.value)
            if let next = edges[key] {
                node = next
            } else {
                let next = Int32(tokenIds.count)
                tokenIds.append(-1)
                edges[key] = next
                node = next
            }
        }
        if tokenIds[Int(node)] < 0 { tokenIds[Int(node)] = id }
    }

    /// The longest vocabulary entry that is a prefix of `text[start..<end]`: its end index and id.
    func longestMatch(_ text: UnsafeBufferPointer<UInt32>, from start: Int, to end: Int) -> (end: Int, id: Int32)? {
        var node: Int32 = 0
        var best: (end: Int, id: Int32)?
        var index = start
        while index < end {
            guard let next = edges[UInt64(node) << 21 | UInt64(text[index])] else { break }
            node = next
            index += 1
            let id = tokenIds[Int(node)]
            if id >= 0 { best = (index, id) }
        }
        return best
    }
}
