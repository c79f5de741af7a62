import Dispatch
import Synchronization

/// Turns many sequences into forward passes and runs them: sequences sorted by length, cut into
/// consecutive groups under a token budget (and at most `maxSequences` each), packed without
/// padding (`PackedBatch`), and dispatched to independent workers.
///
/// Every caller that runs the encoder over more than one sequence goes through here: the
/// annotation pipeline, `biotag eval` (through it), the trainer's devel evaluation and the
/// benchmarks. Sorting by length keeps the sequences of one pass alike, so a pass costs close to
/// its real tokens in attention too; on few cores independent single-threaded workers give more
/// throughput than threads splitting each operation (docs/BENCHMARKS.md).
public struct Batcher: Sendable, Equatable {
    /// Most wordpieces in one pass; a sequence longer than the budget makes a pass alone.
    public var tokenBudget: Int
    /// Most sequences in one pass (`Int.max`: the budget alone decides).
    public var maxSequences: Int

    public init(tokenBudget: Int = 8192, maxSequences: Int = .max) {
        precondition(tokenBudget >= 1 && maxSequences >= 1, "a batch holds at least one token and one sequence")
        self.tokenBudget = tokenBudget
        self.maxSequences = maxSequences
    }

    /// One forward pass: which input sequences it holds, in packed order.
    public struct Batch: Sendable {
        /// Indices into the caller's sequences; sequence `slot` of `packed` is `members[slot]`.
        public let members: [Int]
        public let packed: PackedBatch

        /// The first packed row of the member in `slot`.
        public func firstRow(_ slot: Int) -> Int { packed.starts[slot] }
    }

    /// The passes over sequences of these lengths: indices sorted by length (ties by index, so the
    /// plan depends on the input alone), cut into consecutive groups.
    public func plan(lengths: [Int]) -> [[Int]] {
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        var groups: [[Int]] = []
        var start = 0
        while start < order.count {
            var end = start, tokens = 0
            while end < order.count, end == start || (tokens + lengths[order[end]] <= tokenBudget && end - start < maxSequences) {
                tokens += lengths[order[end]]
                end += 1
            }
            groups.append(Array(order[start..<end]))
            start = end
        }
        return groups
    }

    /// The passes over these sequences, packed.
    /// - Parameter sequence: the token ids of sequence `index` (`[CLS]` … `[SEP]` included).
    public func batches(count: Int, length: (Int) -> Int, sequence: (Int) -> [Int32]) -> [Batch] {
        plan(lengths: (0..<count).map(length)).map { members in
            var packed = PackedBatch()
            for index in members { packed.append(sequence(index)) }
            return Batch(members: members, packed: packed)
        }
    }

    /// The passes over these sequences, packed.
    public func batches(_ sequences: [[Int32]]) -> [Batch] {
        batches(count: sequences.count, length: { sequences[$0].count }, sequence: { sequences[$0] })
    }

    /// Runs `work` for items `0..<count` on `workers`, each worker taking the next item not yet
    /// taken, so a slow pass never holds the others back. With one worker (or one item) the items
    /// run in order on the calling thread.
    /// - Returns: each item's result, in item order. The first error thrown stops every worker
    ///   at its next item and is rethrown.
    public static func dispatch<Worker: Sendable, Output: Sendable>(
        _ count: Int, over workers: [Worker], _ work: @Sendable (Worker, Int) throws -> Output
    ) throws -> [Output] {
        precondition(!workers.isEmpty, "dispatch needs at least one worker")
        if workers.count == 1 || count <= 1 {
            return try (0..<count).map { try work(workers[0], $0) }
        }
        let results = Mutex<[Output?]>([Output?](repeating: nil, count: count))
        let failure = Mutex<(any Error)?>(nil)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: Swift.min(workers.count, count)) { worker in
            while failure.withLock({ $0 == nil }) {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                do {
                    let output = try work(workers[worker], index)
                    results.withLock { $0[index] = output }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { $0.map { $0! } }
    }
}

extension Batcher {
    /// `transform` over `0..<count` on `parts` threads, each taking a contiguous share; the results
    /// in index order. For the pipeline's work around the forward passes (tokenization, decoding),
    /// which would otherwise leave all workers but one idle.
    public static func concurrentMap<T: Sendable>(_ count: Int, parts: Int, _ transform: @Sendable (Int) -> T) -> [T] {
        let parts = Swift.max(1, Swift.min(parts, count / 16))
        guard parts > 1 else { return (0..<count).map(transform) }
        let shares = Mutex<[[T]]>([[T]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let share = (count * part / parts)..<(count * (part + 1) / parts)
            let values = share.map(transform)
            shares.withLock { $0[part] = values }
        }
        return shares.withLock { $0.flatMap { $0 } }
    }
}
