import CDNNL
import Foundation
import Synchronization

/// A small pool of spinning threads for splitting one operation across cores.
///
/// Measured on this VM (ARCHITECTURE.md): waking a sleeping vCPU costs milliseconds, so OpenMP's
/// parallel GEMMs stall at batch 1. Workers here spin on an atomic generation counter between
/// tasks, and fall asleep only after `spinLimit` idle iterations (about a millisecond), so the
/// back-to-back operations of one forward pass never pay a wake-up.
///
/// `parallelFor` runs `body(i)` for `i in 0..<count`; the calling thread takes part. Only one
/// thread may call `parallelFor` on a given pool at a time (each inference worker owns its pool).
public final class SpinPool: @unchecked Sendable {
    /// Number of threads that execute work, the caller included.
    public let threads: Int

    private let generation = Atomic<Int>(0)
    private let nextIndex = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let shuttingDown = Atomic<Bool>(false)
    private let busy = Atomic<Bool>(false)
    private let lock = NSCondition()
    private var body: ((Int) -> Void)?
    private var count = 0
    private let spinLimit: Int

    public init(threads: Int, spinLimit: Int = 200_000) {
        self.threads = Swift.max(1, threads)
        self.spinLimit = spinLimit
        for slot in 1..<self.threads {
            let thread = Thread { self.workerLoop(slot: slot) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Stops the helper threads (they hold the pool alive until then). The pool must not be
    /// used afterwards.
    public func shutdown() {
        shuttingDown.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        lock.lock(); lock.broadcast(); lock.unlock()
    }

    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        // Two callers at once would overwrite each other's task: a programming error, caught here
        // rather than left to corrupt results.
        precondition(!busy.exchange(true, ordering: .acquiring), "SpinPool.parallelFor called while the pool is busy with another caller")
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            self.count = count
            nextIndex.store(0, ordering: .relaxed)
            pending.store(threads - 1, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            if sleepers.load(ordering: .acquiring) > 0 {
                lock.lock(); lock.broadcast(); lock.unlock()
            }
            runItems(escapable, count: count)
            // Wait for the helpers to leave the task before the closure goes out of scope.
            while pending.load(ordering: .acquiring) > 0 { biotag_cpu_relax() }
            self.body = nil
        }
    }

    private func runItems(_ body: (Int) -> Void, count: Int) {
        while true {
            let i = nextIndex.add(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    private func workerLoop(slot: Int) {
        omp_set_num_threads(1)
        // Generation 0 is the pool's state at construction; a task may already have been
        // published before this thread got to run, and it must still take part in it.
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < spinLimit {
                    biotag_cpu_relax()
                } else {
                    lock.lock()
                    sleepers.add(1, ordering: .releasing)
                    while generation.load(ordering: .acquiring) == seen { lock.wait() }
                    sleepers.subtract(1, ordering: .releasing)
                    lock.unlock()
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if shuttingDown.load(ordering: .acquiring) { return }
            if let body { runItems(body, count: count) }
            pending.subtract(1, ordering: .releasing)
        }
    }
}
