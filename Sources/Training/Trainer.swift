import Foundation
import Models
import Tensors
import Tokenization

/// Multi-task (or single-task) fine-tuning: one encoder, one head per task; each batch comes
/// from one task and trains that head and the encoder. With a teacher (distillation), every
/// batch trains every head instead: on the teacher's soft labels for every word, and on gold
/// labels where the window's corpus has them for that head. Model selection on the mean devel
/// F1 (seqeval, lenient); the best model is saved to `output`, checkpoints to
/// `output/checkpoint` every `checkpointEvery` steps.
///
/// With a relation task (`RelationTask`), every step also adds the relation loss of a few
/// documents to the token head's, through the same encoder; the relation head's held-out F1
/// joins the devel scores that choose the model.
public final class Trainer {
    public let model: TrainableModel
    public let tasks: [TrainingTask]
    public let settings: TrainingSettings
    public let output: String
    public let tokenizerDirectory: String
    public private(set) var history = TrainingHistory()
    /// Progress lines (stderr in the command line).
    public var log: (String) -> Void = { _ in }

    private let pass: TrainingPass
    private let optimizer: AdamW
    private let plan: BatchPlan
    private var step = 0
    /// Per head, the words that stay unknown in its negatives (`TrainingSettings.headWordShare`).
    private let headWords: [Set<String>]
    /// Distillation: the teacher's pass (no dropout, nothing kept) and, per head of the model,
    /// the teacher's head of the same name.
    private let teacher: (pass: TrainingPass, heads: [Int])?
    private var softTargets: [[Float]] = []
    /// A relation head trained beside the token heads, and the documents' order per pass over them.
    private let relation: RelationTask?
    private var relationOrder: (pass: Int, order: [Int]) = (-1, [])

    /// - Parameter teacher: with `settings.distillation`, the model whose heads the model's heads
    ///   learn from; it must have a head of the same name and labels for each task, and the same
    ///   hidden width when `hiddenWeight` is above 0.
    /// - Parameter relation: with `settings.relation`, a relation head that trains with the
    ///   encoder; not with a teacher.
    public init(model: TrainableModel, tasks: [TrainingTask], settings: TrainingSettings, output: String, tokenizerDirectory: String,
                teacher teacherModel: TrainableModel? = nil, relation: RelationTask? = nil) throws(TrainingError) {
        self.model = model; self.tasks = tasks; self.settings = settings; self.output = output
        self.tokenizerDirectory = tokenizerDirectory
        guard (settings.distillation == nil) == (teacherModel == nil) else {
            throw .unsupported("distillation needs both a teacher and its settings")
        }
        guard (settings.relation == nil) == (relation == nil) else { throw .unsupported("a relation head needs both its documents and its settings") }
        guard relation == nil || teacherModel == nil else { throw .unsupported("a relation head trains with gold labels, not in distillation") }
        guard relation.map({ $0.head.hidden == model.config.hiddenSize }) ?? true else {
            throw .data("the relation head reads \(relation!.head.hidden)-wide hidden states, the model's are \(model.config.hiddenSize)")
        }
        guard relation.map({ relation in !model.heads.contains { $0.name == relation.name } }) ?? true else {
            throw .data("the relation head's name '\(relation!.name)' is also a token head's")
        }
        self.relation = relation
        if let teacherModel, let distillation = settings.distillation {
            var heads: [Int] = []
            for head in model.heads {
                guard let index = teacherModel.heads.firstIndex(where: { $0.name == head.name }) else {
                    throw .data("the teacher has no head '\(head.name)' (its heads: \(teacherModel.heads.map(\.name).joined(separator: ", ")))")
                }
                guard teacherModel.heads[index].labels == head.labels else {
                    throw .data("the teacher's head '\(head.name)' has the labels \(teacherModel.heads[index].labels.joined(separator: " ")), the corpus \(head.labels.joined(separator: " "))")
                }
                heads.append(index)
            }
            guard distillation.hiddenWeight == 0 || teacherModel.config.hiddenSize == model.config.hiddenSize else {
                throw .unsupported("hidden-state matching needs the teacher's hidden width (\(teacherModel.config.hiddenSize)), the student has \(model.config.hiddenSize)")
            }
            let attentionHeads = (teacher: teacherModel.config.heads(layer: teacherModel.layers.count - 1), student: model.config.heads(layer: model.layers.count - 1))
            guard (distillation.attentionWeight ?? 0) == 0 || attentionHeads.teacher == attentionHeads.student else {
                throw .unsupported("attention-map matching needs the teacher's attention heads in the last layer (\(attentionHeads.teacher)), the student has \(attentionHeads.student)")
            }
            let pass = TrainingPass(model: teacherModel, threads: settings.threads)
            pass.hiddenDropout = 0; pass.attentionDropout = 0
            teacher = (pass, heads)
        } else {
            teacher = nil
        }
        pass = TrainingPass(model: model, threads: settings.threads)
        pass.hiddenDropout = settings.dropout
        pass.attentionDropout = settings.dropout
        optimizer = AdamW(store: model.store)
        optimizer.weightDecay = settings.weightDecay
        plan = BatchPlan(tasks: tasks, settings: settings)
        headWords = tasks.map { task in settings.headWordShare.map { task.entityWords(share: $0) } ?? [] }
    }

    /// Per head: the words inside other corpora's entities its negatives teach as `O`, those left
    /// unknown because their entity holds one of the head's own words, and the most frequent of
    /// those own words (for the log).
    func negativeWordCounts(head: Int) -> (negative: Int, kept: Int, top: [(word: String, count: Int)]) {
        let words = headWords[head]
        var negative = 0, kept = 0, found: [String: Int] = [:]
        for (index, task) in tasks.enumerated() where index != head && !overlappingTaskPairs.contains([tasks[head].name, task.name]) {
            for sentence in task.train.sentences {
                for chunk in chunks(sentence.labels, mode: .lenient) {
                    let own = sentence.words[chunk.start..<chunk.end].map { $0.lowercased() }.filter { words.contains($0) }
                    if own.isEmpty { negative += chunk.end - chunk.start } else { kept += chunk.end - chunk.start }
                    for word in own { found[word, default: 0] += 1 }
                }
            }
        }
        let top = found.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(5).map { (word: $0.key, count: $0.value) }
        return (negative, kept, top)
    }

    deinit { pass.shutdown(); teacher?.pass.shutdown() }

    public var totalSteps: Int { plan.batches.count }
    public var stepsPerEpoch: Int { plan.stepsPerEpoch }
    private var windowCounts: [Int] { tasks.map(\.train.windows.count) }
    private var checkpointDirectory: String { (output as NSString).appendingPathComponent("checkpoint") }

    /// Continues from `output/checkpoint` when there is one of this run.
    /// - Returns: whether a checkpoint was loaded.
    public func resumeIfPossible() throws(TrainingError) -> Bool {
        let manager = FileManager.default
        var directory = checkpointDirectory
        if !manager.fileExists(atPath: (directory as NSString).appendingPathComponent("state.json")) {
            // A crash between removing the old checkpoint and renaming the new one leaves it here.
            directory += ".tmp"
            guard manager.fileExists(atPath: (directory as NSString).appendingPathComponent("state.json")) else { return false }
        }
        let statePath = (directory as NSString).appendingPathComponent("state.json")
        let state: CheckpointState
        do { state = try JSONDecoder().decode(CheckpointState.self, from: Data(contentsOf: URL(fileURLWithPath: statePath))) } catch {
            throw .io(path: statePath, reason: "unreadable checkpoint state: \(error)")
        }
        // Where the run stops is not part of it: a run may be resumed to go further.
        var saved = state.settings, current = settings
        saved.maxSteps = nil; current.maxSteps = nil
        guard saved == current, state.tasks == tasks.map(\.name), state.windows.map({ $0 == windowCounts }) ?? true else {
            throw .data("\(statePath): the checkpoint belongs to a run with other settings, tasks or corpora; use another --out or the same flags")
        }
        do {
            let parameters = try SafetensorsFile(path: (directory as NSString).appendingPathComponent("parameters.safetensors"))
            try model.store.loadAll(from: parameters)
            try optimizer.restore(from: SafetensorsFile(path: (directory as NSString).appendingPathComponent("optimizer.safetensors")))
            if let relation {
                try relation.head.store.loadAll(from: SafetensorsFile(path: (directory as NSString).appendingPathComponent("relation.safetensors")))
                try relation.optimizer.restore(from: SafetensorsFile(path: (directory as NSString).appendingPathComponent("relation-optimizer.safetensors")))
            }
        } catch let error as ModelLoadError { throw .model(error) } catch let error as SafetensorsError { throw .model(.weights(error)) } catch {
            throw .io(path: directory, reason: "\(error)")
        }
        step = state.step
        history = state.history
        log("resumed from \(directory) at step \(step)/\(totalSteps)")
        return true
    }

    /// Trains to the end of the plan (or `maxSteps`), evaluating and checkpointing on the way.
    public func run() throws(TrainingError) {
        let schedule = LinearSchedule(peak: settings.learningRate, warmupSteps: Int(Double(totalSteps) * settings.warmup), totalSteps: totalSteps)
        let lastStep = min(totalSteps, settings.maxSteps ?? totalSteps)
        if settings.usesNegatives {
            // From the plan itself: the most windows of other corpora in one batch of each head.
            let mixed = tasks.indices.map { head in
                plan.batches.lazy.filter { $0.task == head }.map { $0.windows.count(where: { $0.task != head }) }.max() ?? 0
            }
            log("negative windows per batch: " + tasks.indices.map { "\(tasks[$0].name) \(mixed[$0])" }.joined(separator: ", "))
        }
        if settings.headWordShare != nil {
            for head in tasks.indices where settings.negativeRate(for: tasks[head].name) > 0 {
                let counts = negativeWordCounts(head: head)
                let top = counts.top.map { "\($0.word) \($0.count)" }.joined(separator: ", ")
                log("negatives for \(tasks[head].name): \(counts.negative) entity words taught O, \(counts.kept) left unknown in entities holding its own words (\(top))")
            }
        }
        let evaluateEvery = settings.evaluateEvery ?? stepsPerEpoch
        var lossSum = 0.0, lossCount = 0, windowTokens = 0, relationLoss = 0.0
        var norms = (token: 0.0, relation: 0.0)
        let clipsApart = settings.relation?.clipSeparately ?? false
        var windowStart = ContinuousClock.now
        let runStart = ContinuousClock.now
        let stepsAtStart = step
        while step < lastStep {
            let planned = plan.batches[step]
            let batch = packed(planned)
            let started = ContinuousClock.now
            model.store.zeroGradients()
            relation?.head.store.zeroGradients()
            let seed = settings.seed ^ (UInt64(step + 1) &* 0x2545_F491_4F6C_DD1D)
            let (sum, count): (Double, Int)
            if let teacher, let distillation = settings.distillation {
                (sum, count) = try distillationStep(planned, batch: batch, seed: seed, teacher: teacher, settings: distillation)
            } else {
                (sum, count) = try goldStep(planned, batch: batch, seed: seed)
            }
            if let relation, let joint = settings.relation {
                // The relation loss's encoder gradient is measured apart from the token head's
                // (logged), then the two are clipped together or each on its own.
                if tokenGradient.count < model.store.count { tokenGradient = FloatBuffer(count: model.store.count) }
                let tokenNorm = clipsApart ? model.store.clipGradients(maxNorm: settings.maxGradientNorm) : model.store.gradientNorm()
                model.store.setGradientsAside(into: tokenGradient)
                relationLoss += try relationStep(relation, settings: joint, seed: seed)
                let relationNorm = clipsApart ? model.store.clipGradients(maxNorm: settings.maxGradientNorm * joint.weight) : model.store.gradientNorm()
                model.store.addGradients(tokenGradient)
                norms.token += tokenNorm; norms.relation += relationNorm
                windowTokens += relationTokens
                history.realTokens += relationTokens
            }
            if !clipsApart { model.store.clipGradients(maxNorm: settings.maxGradientNorm) }
            optimizer.update(learningRate: schedule.rate(at: step), pool: pass.pool)
            if let relation, let joint = settings.relation {
                relation.head.store.clipGradients(maxNorm: settings.maxGradientNorm)
                relation.optimizer.update(learningRate: schedule.rate(at: step) * joint.learningRate / settings.learningRate)
            }
            history.trainSeconds += (ContinuousClock.now - started).seconds
            history.realTokens += batch.tokenCount
            history.steps += 1
            step += 1
            if count > 0 { lossSum += sum / Double(count); lossCount += 1 }
            windowTokens += batch.tokenCount

            let elapsed = (ContinuousClock.now - windowStart).seconds
            if elapsed >= 30 || step == lastStep || step == stepsAtStart + 1 {
                let perStep = (ContinuousClock.now - runStart).seconds / Double(step - stepsAtStart)
                let eta = Duration.seconds(perStep * Double(lastStep - step))
                let relationPart = relation.map {
                    String(format: "  %@ loss %.4f  gradient norms: token %.3f, %@ %.3f", $0.name, relationLoss / Double(max(1, lossCount)),
                           norms.token / Double(max(1, lossCount)), $0.name, norms.relation / Double(max(1, lossCount)))
                } ?? ""
                log(String(format: "step %d/%d  epoch %.2f  loss %.4f%@  lr %.2e  %.0f tokens/s  ETA %@",
                           step, lastStep, Double(step) / Double(stepsPerEpoch), lossCount > 0 ? lossSum / Double(lossCount) : 0, relationPart,
                           schedule.rate(at: step), Double(windowTokens) / max(elapsed, 1e-9), eta.clock))
                lossSum = 0; lossCount = 0; windowTokens = 0; relationLoss = 0; norms = (0, 0); windowStart = .now
            }
            if step % evaluateEvery == 0 || step == lastStep { try evaluateAndKeepBest() }
            if step % settings.checkpointEvery == 0 || step == lastStep { try writeCheckpoint() }
        }
    }

    /// Wordpieces of the last relation step's documents.
    private var relationTokens = 0
    private var relationGradient = FloatBuffer(count: 0)
    /// The token head's encoder gradient, set aside while the relation loss's is measured.
    private var tokenGradient = FloatBuffer(count: 0)

    /// The relation loss of the step's documents, back-propagated through the head and the
    /// encoder (gradients added to the token head's). Step `n` takes documents `n·k ..< (n+1)·k`
    /// of an endless sequence of seeded shuffles of the training documents.
    /// - Returns: the mean loss per candidate pair.
    private func relationStep(_ relation: RelationTask, settings joint: RelationJointSettings, seed: UInt64) throws(TrainingError) -> Double {
        let count = relation.train.count
        let examples = (0..<joint.documentsPerStep).map { offset in
            let position = step * joint.documentsPerStep + offset
            if relationOrder.pass != position / count {
                var generator = SplitMix64(seed: settings.seed ^ UInt64(position / count + 1) &* 0x9E37_79B9_7F4A_7C15)
                relationOrder = (position / count, Array(0..<count).shuffled(using: &generator))
            }
            return relation.train[relationOrder.order[position % count]]
        }
        let packed = relation.packed(examples)
        relationTokens = packed.batch.tokenCount
        let hidden = try pass.encode(packed.batch, training: true, seed: seed ^ 0x5EED)
        let size = packed.batch.tokenCount * model.config.hiddenSize
        if relationGradient.count < size { relationGradient = FloatBuffer(count: size) }
        relation.head.reseed(seed)
        let loss = relation.backward(examples, hidden: hidden, packed: packed, weight: Float(joint.weight), into: relationGradient.pointer)
        try pass.backward(encoderOutputGradient: relationGradient.pointer)
        return loss
    }

    /// The relation head's F1 on its held-out documents at the threshold that gives the best,
    /// the encoder without dropout; the threshold is kept for saving.
    private func evaluateRelation(_ relation: RelationTask) throws(TrainingError) -> Double {
        var documents: [RelationDocument] = []
        var start = 0
        while start < relation.heldOut.count {
            let examples = Array(relation.heldOut[start..<min(relation.heldOut.count, start + 8)])
            let packed = relation.packed(examples)
            let hidden = try pass.encode(packed.batch, training: false)
            documents += relation.documents(examples, hidden: hidden, packed: packed)
            start += examples.count
        }
        let curve = relation.head.curve(documents)
        let result = curve.best
        log("\(relation.name) held-out F1 by threshold: " + curve.f1ByThreshold)
        relation.threshold = result.threshold
        return result.score.f1
    }

    /// A planned batch's windows, packed.
    private func packed(_ planned: PlannedBatch) -> PackedBatch {
        var batch = PackedBatch()
        for (taskIndex, windowIndex) in planned.windows { batch.append(tasks[taskIndex].train.windows[windowIndex].ids) }
        return batch
    }

    /// One step's forward and backward passes on the batch's head: its own corpus's gold, the
    /// other corpora's windows as negatives.
    private func goldStep(_ planned: PlannedBatch, batch: PackedBatch, seed: UInt64) throws(TrainingError) -> (Double, Int) {
        var labels: [Int32] = []
        for (taskIndex, windowIndex) in planned.windows {
            labels += taskIndex == planned.task ? tasks[taskIndex].trainLabels[windowIndex]
                : tasks[taskIndex].negativeLabels(window: windowIndex, keeping: headWords[planned.task])
        }
        _ = try pass.encode(batch, training: true, seed: seed)
        _ = try pass.headLogits(planned.task, training: true, seed: seed)
        let loss = pass.loss(labels: labels)
        try pass.backward()
        return loss
    }

    /// The gold loss's gradients on the first `steps` batches of the plan, one batch at a time,
    /// without dropout and without changing the model: after each batch's backward pass `visit`
    /// reads the gradients in the store (pruning's importance scores).
    public func visitGradients(steps: Int, _ visit: (TrainableModel) -> Void) throws(TrainingError) {
        let dropout = (pass.hiddenDropout, pass.attentionDropout)
        pass.hiddenDropout = 0; pass.attentionDropout = 0
        defer { (pass.hiddenDropout, pass.attentionDropout) = dropout }
        for planned in plan.batches.prefix(steps) {
            model.store.zeroGradients()
            _ = try goldStep(planned, batch: packed(planned), seed: 0)
            visit(model)
        }
    }

    /// One distillation step's forward and backward passes: the teacher's soft labels for every
    /// head on the words of every window, the gold labels of each window's own corpus for its
    /// head, and optionally the teacher's last hidden states and last attention maps.
    /// - Returns: the batch's loss (summed over heads, each a mean over its words) and 1.
    private func distillationStep(_ planned: PlannedBatch, batch: PackedBatch, seed: UInt64, teacher: (pass: TrainingPass, heads: [Int]),
                                  settings distillation: DistillationSettings) throws(TrainingError) -> (Double, Int) {
        let rows = batch.tokenCount, hidden = model.config.hiddenSize
        let temperature = Float(distillation.temperature)
        // Words (first wordpieces) of every window, and each head's gold labels on its own corpus's windows.
        var words: [Bool] = []
        var gold = model.heads.map { _ in [Int32]() }
        for (taskIndex, windowIndex) in planned.windows {
            let own = tasks[taskIndex].trainLabels[windowIndex]
            words += own.map { $0 != -100 }
            for head in gold.indices { gold[head] += head == taskIndex ? own : [Int32](repeating: -100, count: own.count) }
        }
        let teacherHidden = try teacher.pass.encode(batch, training: false)
        var hiddenTarget: [Float] = []
        if distillation.hiddenWeight > 0 { hiddenTarget = Array(UnsafeBufferPointer(start: teacherHidden, count: rows * hidden)) }
        if softTargets.count != model.heads.count { softTargets = model.heads.map { _ in [] } }
        for (head, teacherHead) in teacher.heads.enumerated() {
            let classes = model.heads[head].labels.count
            let logits = try teacher.pass.headLogits(teacherHead, training: false)
            if softTargets[head].count < rows * classes { softTargets[head] = [Float](repeating: 0, count: rows * classes) }
            softTargets[head].withUnsafeMutableBufferPointer { temperatureSoftmax(logits, rows: rows, classes: classes, temperature: temperature, into: $0.baseAddress!) }
        }
        let studentHidden = try pass.encode(batch, training: true, seed: seed)
        var total = 0.0
        var outputGradient: [Float] = []
        if distillation.hiddenWeight > 0 {
            // mean over rows of the squared distance per dimension
            outputGradient = [Float](repeating: 0, count: rows * hidden)
            let scale = Float(2 * distillation.hiddenWeight) / Float(rows * hidden)
            var squared = 0.0
            for i in 0..<(rows * hidden) {
                let difference = studentHidden[i] - hiddenTarget[i]
                squared += Double(difference * difference)
                outputGradient[i] = scale * difference
            }
            total += distillation.hiddenWeight * squared / Double(rows * hidden)
        }
        var attentionTarget: AttentionTarget?
        if let weight = distillation.attentionWeight, weight > 0 {
            // Mean over the last layer's attention rows (heads × tokens) of KL(teacher ‖ student).
            let student = pass.attentionProbabilities(layer: model.layers.count - 1)
            let target = teacher.pass.attentionProbabilities(layer: teacher.pass.model.layers.count - 1)
            let rowCount = Double(model.config.heads(layer: model.layers.count - 1) * rows)
            total += weight * attentionDivergence(student.baseAddress!, target: target.baseAddress!, count: student.count) / rowCount
            attentionTarget = AttentionTarget(probabilities: target.baseAddress!, scale: Float(weight / rowCount))
        }
        var scratch: [Float] = []
        try outputGradient.withUnsafeBufferPointer { hiddenGradient throws(TrainingError) in
            try pass.backward(heads: Array(model.heads.indices), seed: seed, outputGradient: hiddenGradient.isEmpty ? nil : hiddenGradient.baseAddress,
                              attentionTarget: attentionTarget) { head, logits, gradient in
                let classes = model.heads[head].labels.count
                let soft = softTargets[head].withUnsafeBufferPointer { targets in
                    distillationLoss(logits, rows: rows, classes: classes, targets: targets.baseAddress!, mask: words, temperature: temperature,
                                     weight: Float(distillation.softWeight), gradient: gradient)
                }
                if soft.count > 0 { total += distillation.softWeight * soft.sum / Double(soft.count) }
                guard distillation.goldWeight > 0, gold[head].contains(where: { $0 != -100 }) else { return }
                if scratch.count < rows * classes { scratch = [Float](repeating: 0, count: rows * classes) }
                scratch.withUnsafeMutableBufferPointer { buffer in
                    let hard = softmaxCrossEntropy(logits, rows: rows, classes: classes, labels: gold[head], gradient: buffer.baseAddress!)
                    if hard.count > 0 { total += distillation.goldWeight * hard.sum / Double(hard.count) }
                    let weight = Float(distillation.goldWeight)
                    for i in 0..<(rows * classes) { gradient[i] += weight * buffer[i] }
                }
            }
        }
        return (total, 1)
    }

    /// Devel F1 of every task; saves the model when the mean improves.
    private func evaluateAndKeepBest() throws(TrainingError) {
        var scores: [String: Double] = [:]
        do {
            for (index, task) in tasks.enumerated() {
                guard let devel = task.devel else { continue }
                let predictions = try predict(devel, heads: [index], headLabels: model.heads.map(\.labels), scorer: pass)
                scores[task.name] = try score(task: task.name, gold: devel.sentences, predicted: predictions.labels[0]).lenient.micro.f1
            }
            if let relation { scores[relation.name] = try evaluateRelation(relation) }
        } catch let error as TrainingError { throw error } catch { throw .data("evaluation failed: \(error)") }
        let mean = scores.isEmpty ? 0 : scores.values.reduce(0, +) / Double(scores.count)
        history.evaluations.append(.init(step: step, epoch: Double(step) / Double(stepsPerEpoch), develF1: scores, meanF1: mean))
        let summary = scores.keys.sorted().map { String(format: "%@ %.2f", $0, 100 * scores[$0]!) }.joined(separator: "  ")
        log(String(format: "devel at step %d: mean F1 %.2f  (%@)", step, 100 * mean, summary))
        if scores.isEmpty || mean > (history.bestMeanF1 ?? -1) {
            history.bestMeanF1 = mean
            history.bestStep = step
            try model.save(to: output, tokenizerDirectory: tokenizerDirectory,
                           metadata: [ModelMetadataKey.step: "\(step)", ModelMetadataKey.develMeanF1: String(format: "%.6f", mean)],
                           extraTasks: relation.map { [$0.spec] } ?? [], extraTensors: relation?.records ?? [])
            log("saved the model to \(output)")
        }
        try writeHistory()
    }

    private func writeHistory() throws(TrainingError) {
        let path = (output as NSString).appendingPathComponent("training.json")
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let record = TrainingRecord(settings: settings, tasks: tasks.map(\.name), history: history, tokensPerSecond: history.tokensPerSecond)
            try encoder.encode(record).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch { throw .io(path: path, reason: "\(error)") }
    }

    /// Parameters, optimizer moments and the state, written to `checkpoint.tmp` and then
    /// renamed over `checkpoint`, so an interruption at any point leaves one complete checkpoint.
    private func writeCheckpoint() throws(TrainingError) {
        let manager = FileManager.default
        let temporary = checkpointDirectory + ".tmp"
        do {
            if manager.fileExists(atPath: temporary) { try manager.removeItem(atPath: temporary) }
            try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            try SafetensorsWriter.write(model.store.records(), to: (temporary as NSString).appendingPathComponent("parameters.safetensors"))
            try SafetensorsWriter.write(optimizer.records(), to: (temporary as NSString).appendingPathComponent("optimizer.safetensors"))
            if let relation {
                try SafetensorsWriter.write(relation.head.store.records(), to: (temporary as NSString).appendingPathComponent("relation.safetensors"))
                try SafetensorsWriter.write(relation.optimizer.records(), to: (temporary as NSString).appendingPathComponent("relation-optimizer.safetensors"))
            }
            let state = CheckpointState(step: step, settings: settings, tasks: tasks.map(\.name), windows: windowCounts, history: history)
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("state.json")), options: .atomic)
            if manager.fileExists(atPath: checkpointDirectory) { try manager.removeItem(atPath: checkpointDirectory) }
            try manager.moveItem(atPath: temporary, toPath: checkpointDirectory)
        } catch { throw .io(path: checkpointDirectory, reason: "cannot write the checkpoint: \(error)") }
    }
}

/// `training.json` beside a trained model.
struct TrainingRecord: Codable {
    let settings: TrainingSettings
    let tasks: [String]
    let history: TrainingHistory
    let tokensPerSecond: Double
}

extension Duration {
    /// `1h02m03s`-style.
    var clock: String {
        let total = Int(seconds.rounded())
        let hours = total / 3600, minutes = total % 3600 / 60, secs = total % 60
        return hours > 0 ? String(format: "%dh%02dm%02ds", hours, minutes, secs) : String(format: "%dm%02ds", minutes, secs)
    }
}
