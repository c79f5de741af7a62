import Models
import Testing

/// The one batcher: every sequence in exactly one pass, passes under the budget and the cap,
/// lengths sorted; dispatch keeps item order and stops on the first error.
@Suite struct BatcherTests {
    @Test(arguments: [(8192, Int.max), (64, Int.max), (1, Int.max), (1000, 3), (Int.max, 32)])
    func everySequenceOnceUnderTheLimits(budget: Int, cap: Int) {
        var random = SplitMix64(seed: 3)
        let lengths = (0..<500).map { _ in Int.random(in: 1...130, using: &random) }
        let plan = Batcher(tokenBudget: budget, maxSequences: cap).plan(lengths: lengths)
        #expect(plan.flatMap { $0 }.sorted() == Array(lengths.indices))
        let order = plan.flatMap { $0 }
        #expect(zip(order, order.dropFirst()).allSatisfy { (lengths[$0], $0) < (lengths[$1], $1) })
        for group in plan {
            #expect(group.count <= cap)
            #expect(group.count == 1 || group.map { lengths[$0] }.reduce(0, +) <= budget)
        }
        // Greedy: a pass ends only where the next sequence would break a limit.
        for (group, next) in zip(plan, plan.dropFirst()) {
            #expect(group.count == cap || group.map { lengths[$0] }.reduce(0, +) + lengths[next[0]] > budget)
        }
    }

    @Test func packedBatchesHoldTheMembersInOrder() {
        let sequences: [[Int32]] = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]]
        for batch in Batcher(tokenBudget: 5).batches(sequences) {
            for (slot, member) in batch.members.enumerated() {
                #expect(Array(batch.packed.ids[batch.packed.rows(of: slot)]) == sequences[member])
                #expect(batch.firstRow(slot) == batch.packed.rows(of: slot).lowerBound)
            }
        }
    }

    struct Failure: Error, Equatable { let item: Int }

    @Test(arguments: [1, 2, 4])
    func dispatchKeepsOrderAndRethrows(workers: Int) throws {
        let results = try Batcher.dispatch(100, over: Array(0..<workers)) { _, item in item * item }
        #expect(results == (0..<100).map { $0 * $0 })
        #expect(throws: Failure(item: 37)) {
            _ = try Batcher.dispatch(100, over: Array(0..<workers)) { _, item in
                if item == 37 { throw Failure(item: item) }
                return item
            }
        }
    }

    @Test func concurrentMapMatchesMap() {
        for count in [0, 1, 15, 16, 100, 1001] {
            #expect(Batcher.concurrentMap(count, parts: 3) { $0 * 7 } == (0..<count).map { $0 * 7 })
        }
    }
}
