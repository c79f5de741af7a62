import Foundation

extension EncoderWeights {
    /// The last hidden state of each sequence, `[tokens, hidden]` row-major, in input order: the
    /// sequences run in length-sorted batches (`Batcher`) on `workers` runners of `threads`
    /// threads each. Batching does not change a sequence's result.
    /// - Parameter sequences: token ids, `[CLS]` … `[SEP]` included, each within the positions.
    public func hiddenStates(_ sequences: [[Int32]], threads: Int = 1, workers: Int = 1, tokenBudget: Int = 8192) throws -> [[Float]] {
        let runners = try (0..<max(1, workers)).map { _ in try EncoderRunner(weights: self, threads: threads) }
        defer { runners.forEach { $0.shutdown() } }
        let hidden = config.hiddenSize
        let batches = Batcher(tokenBudget: tokenBudget).batches(sequences)
        // Copied out per sequence before the runner takes its next batch (its output is scratch).
        let states = try Batcher.dispatch(batches.count, over: runners) { runner, index in
            let batch = batches[index]
            let output = try runner.forward(batch.packed)
            return batch.members.indices.map { slot in
                Array(UnsafeBufferPointer(start: output + batch.firstRow(slot) * hidden, count: batch.packed.rows(of: slot).count * hidden))
            }
        }
        var result = [[Float]](repeating: [], count: sequences.count)
        for (batch, values) in zip(batches, states) { for (slot, member) in batch.members.enumerated() { result[member] = values[slot] } }
        return result
    }
}
