import Foundation
import Models
import Tensors
import Tokenization

/// One step's batch: its head and the windows (task, window index) it holds.
struct PlannedBatch {
    let task: Int
    let windows: [(task: Int, window: Int)]
}

/// The whole run's batches, derived from the seed alone, so that a resumed run sees exactly the
/// batches the interrupted one would have.
struct BatchPlan {
    let batches: [PlannedBatch]
    let stepsPerEpoch: Int

    init(tasks: [TrainingTask], settings: TrainingSettings) {
        var random = SplitMix64(seed: settings.seed)
        let size = settings.batchSize
        stepsPerEpoch = tasks.reduce(0) { $0 + ($1.train.windows.count + size - 1) / size }
        let total = Int((Double(stepsPerEpoch) * settings.epochs).rounded(.up))
        let weights = tasks.map { Foundation.pow(Double($0.train.windows.count), settings.alpha) }
        let weightSum = weights.reduce(0, +)
        var queues: [[[Int]]] = tasks.map { _ in [] }
        // Windows from other corpora that contain gold entities, per head.
        let negativePools: [[(task: Int, window: Int)]] = tasks.indices.map { head in
            guard settings.negativeRate(for: tasks[head].name) > 0 else { return [] }
            var pool: [(task: Int, window: Int)] = []
            for (other, task) in tasks.enumerated() where other != head && !overlappingTaskPairs.contains([tasks[head].name, task.name]) {
                for (index, labels) in task.trainLabels.prefix(task.ownWindows).enumerated() where labels.contains(where: { $0 > 0 }) {
                    pool.append((other, index))
                }
            }
            return pool
        }
        let negatives = tasks.map { Int((settings.negativeRate(for: $0.name) * Double(size)).rounded()) }
        var batches: [PlannedBatch] = []
        batches.reserveCapacity(total)
        for _ in 0..<total {
            var draw = Double(random.next() >> 11) / Double(1 << 53) * weightSum
            var task = 0
            while task < tasks.count - 1, draw >= weights[task] { draw -= weights[task]; task += 1 }
            if queues[task].isEmpty { queues[task] = Self.bucketedBatches(tasks[task], size: size, random: &random).reversed() }
            var windows = queues[task].removeLast().map { (task: task, window: $0) }
            let pool = negativePools[task]
            if !pool.isEmpty { for _ in 0..<negatives[task] { windows.append(pool[Int(random.next() % UInt64(pool.count))]) } }
            batches.append(PlannedBatch(task: task, windows: windows))
        }
        self.batches = batches
    }

    /// One pass over a task's windows: shuffled, sorted by length within chunks of 50 batches
    /// (so a batch holds windows of similar length), cut into batches, batches shuffled.
    static func bucketedBatches(_ task: TrainingTask, size: Int, random: inout SplitMix64) -> [[Int]] {
        var order = Array(task.train.windows.indices)
        order.shuffle(using: &random)
        var batches: [[Int]] = []
        let chunk = size * 50
        var start = 0
        while start < order.count {
            let slice = order[start..<min(order.count, start + chunk)].sorted { task.train.windows[$0].count < task.train.windows[$1].count }
            var i = 0
            while i < slice.count { batches.append(Array(slice[i..<min(slice.count, i + size)])); i += size }
            start += chunk
        }
        batches.shuffle(using: &random)
        return batches
    }
}
