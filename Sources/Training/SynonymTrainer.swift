import Foundation
import Linking
import Models
import Tensors

/// Settings of `SynonymTrainer`.
public struct SynonymTrainingSettings: Sendable, Codable {
    /// Concepts per batch; each gives two of its names (anchor and positive), and every other
    /// concept's names in the batch are its negatives.
    public var batchConcepts = 32
    public var steps = 1000
    public var learningRate = 2e-5
    public var warmup = 0.05
    /// Softmax temperature of the similarities (SapBERT's InfoNCE variants use 0.05).
    public var temperature: Float = 0.05
    /// Every other batch is a concept and its nearest neighbours by name (hard negatives) rather
    /// than random concepts.
    public var hardBatches = true
    public var seed: UInt64 = 17
    public var threads = 2

    public init() {}
}

/// Contrastive fine-tuning of an encoder on a dictionary's synonym sets, after SapBERT (Liu et
/// al. 2021): two names of one concept are pulled together and the other concepts of the batch
/// pushed away (symmetric InfoNCE over mean-pooled, L2-normalized embeddings), with batches of
/// neighbouring concepts for hard negatives. The result embeds mentions and dictionary terms
/// for `DenseTerms`.
public enum SynonymTrainer {
    /// - Parameters:
    ///   - encoder: the model directory to start from (all-MiniLM-L6-v2).
    ///   - output: where the trained encoder is written (a model directory).
    ///   - log: called with a line of progress every 50 steps.
    public static func train(encoder: String, dictionary: ConceptDictionary, settings: SynonymTrainingSettings, output: String,
                             log: (String) -> Void) throws {
        // Each concept's distinct names; concepts with two or more can make a pair.
        var names: [[String]] = []
        for concept in dictionary.concepts {
            var seen = Set<String>()
            names.append(([concept.name] + concept.synonyms).filter { seen.insert($0.lowercased()).inserted })
        }
        let eligible = names.indices.filter { names[$0].count >= 2 }
        guard eligible.count >= settings.batchConcepts else {
            throw TrainingError.data("\(dictionary.source): only \(eligible.count) concepts have two names or more; a batch needs \(settings.batchConcepts)")
        }
        // Hard batches: neighbours by the starting encoder's embedding of each concept's name.
        let start = try TermEncoder(directory: encoder, workers: settings.threads)
        let width = start.width
        let nameVectors = settings.hardBatches ? try start.embed(eligible.map { names[$0][0] }) : []
        let tokenizer = start.model.tokenizer
        start.shutdown()

        let model = try TrainableModel.load(directory: encoder, tasks: [], seed: settings.seed)
        let pass = TrainingPass(model: model, threads: settings.threads)
        defer { pass.shutdown() }
        let optimizer = AdamW(store: model.store)
        let schedule = LinearSchedule(peak: settings.learningRate, warmupSteps: Int(Double(settings.steps) * settings.warmup), totalSteps: settings.steps)
        var random = SplitMix64(seed: settings.seed)
        let count = settings.batchConcepts
        var window: (loss: Double, steps: Int) = (0, 0)
        let began = ContinuousClock.now

        for step in 0..<settings.steps {
            // The batch's concepts (indices into `eligible`).
            var chosen: [Int]
            if settings.hardBatches, step % 2 == 1 {
                let seed = Int(random.next() % UInt64(eligible.count))
                let query = nameVectors[(seed * width)..<((seed + 1) * width)]
                var scored: [(Int, Float)] = []
                scored.reserveCapacity(eligible.count)
                nameVectors.withUnsafeBufferPointer { all in
                    for other in eligible.indices {
                        var sum: Float = 0
                        for i in 0..<width { sum += all[other * width + i] * query[query.startIndex + i] }
                        scored.append((other, sum))
                    }
                }
                chosen = scored.sorted { $0.1 > $1.1 }.prefix(count).map(\.0)
            } else {
                var picked = Set<Int>()
                while picked.count < count { picked.insert(Int(random.next() % UInt64(eligible.count))) }
                chosen = picked.sorted()
            }
            // Two different names of each concept: anchors first, then positives.
            var anchors: [[Int32]] = [], positives: [[Int32]] = []
            for index in chosen {
                let terms = names[eligible[index]]
                let a = Int(random.next() % UInt64(terms.count))
                var b = Int(random.next() % UInt64(terms.count - 1))
                if b >= a { b += 1 }
                anchors.append(tokenizer.truncate(tokenizer.encode(terms[a]), maxLength: TermEncoder.maxLength).ids)
                positives.append(tokenizer.truncate(tokenizer.encode(terms[b]), maxLength: TermEncoder.maxLength).ids)
            }
            let batch = PackedBatch(anchors + positives)
            let hidden = try pass.encode(batch, training: true, seed: settings.seed &+ UInt64(step))
            let (loss, gradient) = contrastiveLoss(hidden: hidden, batch: batch, width: width, pairs: count, temperature: settings.temperature)
            model.store.zeroGradients()
            try gradient.withUnsafeBufferPointer { try pass.backward(encoderOutputGradient: $0.baseAddress!) }
            _ = model.store.clipGradients(maxNorm: 1)
            optimizer.update(learningRate: schedule.rate(at: step), pool: pass.pool)
            window.loss += loss
            window.steps += 1
            if (step + 1) % 50 == 0 || step + 1 == settings.steps {
                let elapsed = (ContinuousClock.now - began).seconds
                log(String(format: "step %d/%d  loss %.4f  lr %.2e  %.2f s/step", step + 1, settings.steps, window.loss / Double(window.steps),
                           schedule.rate(at: step), elapsed / Double(step + 1)))
                window = (0, 0)
            }
        }
        try model.save(to: output, tokenizerDirectory: encoder, metadata: ["biotag.synonym_training": String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)])
    }

    /// Symmetric InfoNCE over `pairs` anchors (sequences `0..<pairs`) and their positives
    /// (`pairs..<2 pairs`): each sequence mean-pooled and L2-normalized, `S = A Pᵀ / τ`, the
    /// loss the mean of the row-wise and column-wise cross-entropies with the diagonal as target.
    /// - Returns: the loss and dLoss/d(hidden) `[rows, width]`.
    public static func contrastiveLoss(hidden: UnsafePointer<Float>, batch: PackedBatch, width: Int, pairs: Int, temperature: Float) -> (Double, [Float]) {
        let sequences = 2 * pairs
        var raw = [Float](repeating: 0, count: sequences * width), norms = [Float](repeating: 0, count: sequences)
        var unit = [Float](repeating: 0, count: sequences * width)
        for s in 0..<sequences {
            let rows = batch.rows(of: s)
            for row in rows { for i in 0..<width { raw[s * width + i] += hidden[row * width + i] } }
            for i in 0..<width { raw[s * width + i] /= Float(rows.count) }
            norms[s] = max(sqrtf((0..<width).reduce(0) { $0 + raw[s * width + $1] * raw[s * width + $1] }), 1e-12)
            for i in 0..<width { unit[s * width + i] = raw[s * width + i] / norms[s] }
        }
        // Similarities and their softmaxes by row (anchor → positives) and by column.
        var logits = [Float](repeating: 0, count: pairs * pairs)
        for a in 0..<pairs {
            for p in 0..<pairs {
                var sum: Float = 0
                for i in 0..<width { sum += unit[a * width + i] * unit[(pairs + p) * width + i] }
                logits[a * pairs + p] = sum / temperature
            }
        }
        var dLogits = [Float](repeating: 0, count: pairs * pairs)
        var loss: Double = 0
        for direction in 0..<2 {
            for i in 0..<pairs {
                func at(_ j: Int) -> Int { direction == 0 ? i * pairs + j : j * pairs + i }
                let largest = (0..<pairs).map { logits[at($0)] }.max()!
                let exps = (0..<pairs).map { expf(logits[at($0)] - largest) }
                let total = exps.reduce(0, +)
                loss += Double(logf(total) + largest - logits[at(i)])
                for j in 0..<pairs { dLogits[at(j)] += (exps[j] / total - (i == j ? 1 : 0)) / Float(2 * pairs) }
            }
        }
        loss /= Double(2 * pairs)
        // dUnit: anchors get dS · P / τ, positives dSᵀ · A / τ.
        var dUnit = [Float](repeating: 0, count: sequences * width)
        for a in 0..<pairs {
            for p in 0..<pairs {
                let g = dLogits[a * pairs + p] / temperature
                guard g != 0 else { continue }
                for i in 0..<width {
                    dUnit[a * width + i] += g * unit[(pairs + p) * width + i]
                    dUnit[(pairs + p) * width + i] += g * unit[a * width + i]
                }
            }
        }
        // Through the normalization (d raw = (d unit − unit (unit · d unit)) / norm), then the mean.
        var gradient = [Float](repeating: 0, count: batch.tokenCount * width)
        for s in 0..<sequences {
            var dot: Float = 0
            for i in 0..<width { dot += unit[s * width + i] * dUnit[s * width + i] }
            let rows = batch.rows(of: s)
            for i in 0..<width {
                let dRaw = (dUnit[s * width + i] - unit[s * width + i] * dot) / norms[s] / Float(rows.count)
                for row in rows { gradient[row * width + i] = dRaw }
            }
        }
        return (loss, gradient)
    }
}
