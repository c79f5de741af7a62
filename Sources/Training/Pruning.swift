import Foundation
import Models

/// How much the multi-task loss would change if each attention head, FFN neuron or MLP-head
/// neuron were removed: the first-order Taylor estimate |Σ w · ∂L/∂w| over the output weights
/// that read the unit (a head's columns of the attention output projection, a neuron's column
/// of the FFN output or of the head's classifier), which equals |Σ over tokens of activation ·
/// ∂L/∂activation| (Molchanov et al., 2017; for heads, Michel et al., 2019's mask gradient).
/// Summed over batches as absolute values per batch, every head's loss taking its turn as the
/// batches' tasks do.
public struct PruningImportance: Sendable, Codable, Equatable {
    /// [layer][head] in the model's own head order.
    public var heads: [[Double]]
    /// [layer][neuron].
    public var neurons: [[Double]]
    /// Per MLP task head, [inner neuron] (linear heads have none).
    public var headNeurons: [String: [Double]]
    public var batches = 0

    public init(model: TrainableModel) {
        let config = model.config
        heads = (0..<config.layers).map { [Double](repeating: 0, count: config.heads(layer: $0)) }
        neurons = (0..<config.layers).map { [Double](repeating: 0, count: config.intermediateSize(layer: $0)) }
        headNeurons = Dictionary(uniqueKeysWithValues: model.heads.compactMap { head in head.dense.map { (head.name, [Double](repeating: 0, count: $0.outFeatures)) } })
    }

    /// Adds one batch's scores, read from the gradients now in the model's store.
    public mutating func accumulate(_ model: TrainableModel) {
        let store = model.store, headSize = model.config.headSize
        for (index, layer) in model.layers.enumerated() {
            let attention = Self.columnScores(layer.attentionOutput, store)
            for head in heads[index].indices {
                heads[index][head] += abs(attention[(head * headSize)..<((head + 1) * headSize)].reduce(0, +))
            }
            for (neuron, score) in Self.columnScores(layer.output, store).enumerated() { neurons[index][neuron] += abs(score) }
        }
        for head in model.heads where head.dense != nil {
            for (neuron, score) in Self.columnScores(head.classifier, store).enumerated() { headNeurons[head.name]![neuron] += abs(score) }
        }
        batches += 1
    }

    /// Σ over rows of w · ∂L/∂w for each input column of a linear layer (`[out, in]`).
    private static func columnScores(_ layer: LinearParameters, _ store: ParameterStore) -> [Double] {
        let weight = store.value(layer.weight), gradient = store.gradient(layer.weight)
        var scores = [Double](repeating: 0, count: layer.inFeatures)
        for row in 0..<layer.outFeatures {
            let offset = row * layer.inFeatures
            for column in 0..<layer.inFeatures { scores[column] += Double(weight[offset + column] * gradient[offset + column]) }
        }
        return scores
    }
}

/// What structured pruning keeps, in the numbering of the model it was chosen for.
public struct PruningPlan: Sendable, Codable, Equatable {
    /// Per layer, the attention heads kept, ascending.
    public var heads: [[Int]]
    /// Per layer, the FFN neurons kept, ascending.
    public var neurons: [[Int]]
    /// Per MLP task head, the inner neurons kept, ascending (heads not named stay whole).
    public var headNeurons: [String: [Int]]

    public init(heads: [[Int]], neurons: [[Int]], headNeurons: [String: [Int]] = [:]) {
        self.heads = heads; self.neurons = neurons; self.headNeurons = headNeurons
    }

    /// The `heads` most important heads and `ffn` most important neurons of every layer, and the
    /// `headInner` most important inner neurons of every MLP task head (nil: heads stay whole).
    public static func keepingMostImportant(_ importance: PruningImportance, heads: Int, ffn: Int, headInner: Int?) -> PruningPlan {
        func top(_ scores: [Double], _ count: Int) -> [Int] {
            Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(count)).sorted()
        }
        return PruningPlan(heads: importance.heads.map { top($0, heads) }, neurons: importance.neurons.map { top($0, ffn) },
                           headNeurons: headInner.map { inner in importance.headNeurons.mapValues { top($0, inner) } } ?? [:])
    }
}

extension TrainableModel {
    /// A smaller copy of this model with only what `plan` keeps: each layer's Q, K and V rows
    /// and attention-output columns of the kept heads, FFN rows and output columns of the kept
    /// neurons, MLP heads' inner rows and classifier columns. Everything else is copied. The
    /// config records the removed heads in the original numbering (`pruned_heads`), so pruning
    /// a pruned model composes.
    public func pruned(_ plan: PruningPlan) throws(TrainingError) -> TrainableModel {
        let layerCount = config.layers
        guard plan.heads.count == layerCount, plan.neurons.count == layerCount else {
            throw .data("the pruning plan covers \(plan.heads.count) layers, the model has \(layerCount)")
        }
        var smaller = config
        var prunedHeads: [[Int]] = []
        var sizes: [Int] = []
        for layer in 0..<layerCount {
            let heads = plan.heads[layer], neurons = plan.neurons[layer]
            let headCount = config.heads(layer: layer), inner = config.intermediateSize(layer: layer)
            guard !heads.isEmpty, heads.allSatisfy({ (0..<headCount).contains($0) }), Set(heads).count == heads.count else {
                throw .data("layer \(layer): heads to keep must be 1 to \(headCount) distinct heads from 0 to \(headCount - 1)")
            }
            guard !neurons.isEmpty, neurons.allSatisfy({ (0..<inner).contains($0) }), Set(neurons).count == neurons.count else {
                throw .data("layer \(layer): FFN neurons to keep must be 1 to \(inner) distinct neurons from 0 to \(inner - 1)")
            }
            // The heads this layer still has, in the original numbering.
            let remaining = (0..<config.heads).filter { !(config.prunedHeads?[layer].contains($0) ?? false) }
            let kept = Set(heads.map { remaining[$0] })
            prunedHeads.append((0..<config.heads).filter { !kept.contains($0) })
            sizes.append(neurons.count)
        }
        smaller.prunedHeads = prunedHeads
        // One width for every layer is `intermediate_size` itself, which `transformers` reads too.
        if Set(sizes).count == 1 {
            smaller.intermediateSize = sizes[0]
            smaller.intermediateSizes = nil
        } else {
            smaller.intermediateSizes = sizes
        }
        var specs: [TaskSpec] = []
        for head in heads {
            var spec = head.spec
            if let kept = plan.headNeurons[head.name] {
                guard let dense = head.dense else { throw .data("the pruning plan narrows head '\(head.name)', which has no inner layer") }
                guard !kept.isEmpty, kept.allSatisfy({ (0..<dense.outFeatures).contains($0) }), Set(kept).count == kept.count else {
                    throw .data("head '\(head.name)': inner neurons to keep must be distinct, from 0 to \(dense.outFeatures - 1)")
                }
                spec.innerSize = kept.count
            }
            specs.append(spec)
        }
        let student = try TrainableModel(config: smaller, tasks: specs)
        let copier = ParameterCopier(from: store, to: student.store)
        copier.copy(wordEmbeddings, student.wordEmbeddings)
        copier.copy(positionEmbeddings, student.positionEmbeddings)
        copier.copy(tokenTypeEmbeddings, student.tokenTypeEmbeddings)
        copier.copy(embeddingNorm, student.embeddingNorm)
        let headSize = config.headSize
        for (index, (from, to)) in zip(layers, student.layers).enumerated() {
            let width = config.attentionWidth(layer: index)
            let headRows = plan.heads[index].flatMap { head in (head * headSize)..<((head + 1) * headSize) }
            // Q, K and V are stacked in one parameter: the same heads from each part.
            let qkvRows = (0..<3).flatMap { part in headRows.map { part * width + $0 } }
            copier.copyRows(from.queryKeyValue, to.queryKeyValue, rows: qkvRows)
            copier.copyColumns(from.attentionOutput, to.attentionOutput, columns: headRows)
            copier.copy(from.attentionNorm, to.attentionNorm)
            copier.copyRows(from.intermediate, to.intermediate, rows: plan.neurons[index])
            copier.copyColumns(from.output, to.output, columns: plan.neurons[index])
            copier.copy(from.outputNorm, to.outputNorm)
        }
        for (from, to) in zip(heads, student.heads) {
            if let kept = plan.headNeurons[from.name], let dense = from.dense, let narrowed = to.dense {
                copier.copyRows(dense, narrowed, rows: kept)
                copier.copyColumns(from.classifier, to.classifier, columns: kept)
            } else {
                copier.copy(from.dense, to.dense)
                copier.copy(from.classifier, to.classifier)
            }
        }
        return student
    }
}

/// Copies parameter values between two stores, whole or by rows / input columns.
struct ParameterCopier {
    let from: ParameterStore, to: ParameterStore

    func copy(_ source: Parameter?, _ target: Parameter?) {
        guard let source, let target else { return }
        precondition(source.count == target.count, "parameter shapes differ")
        to.value(target).update(from: from.value(source), count: source.count)
    }

    func copy(_ source: LinearParameters?, _ target: LinearParameters?) { copy(source?.weight, target?.weight); copy(source?.bias, target?.bias) }
    func copy(_ source: NormParameters, _ target: NormParameters) { copy(source.gamma, target.gamma); copy(source.beta, target.beta) }

    /// Output rows `rows` of `source` (weight rows and bias entries) become `target`'s rows.
    func copyRows(_ source: LinearParameters, _ target: LinearParameters, rows: [Int]) {
        precondition(target.outFeatures == rows.count && target.inFeatures == source.inFeatures, "parameter shapes differ")
        let width = source.inFeatures
        let (weight, bias) = (from.value(source.weight), from.value(source.bias))
        let (newWeight, newBias) = (to.value(target.weight), to.value(target.bias))
        for (position, row) in rows.enumerated() {
            (newWeight + position * width).update(from: weight + row * width, count: width)
            newBias[position] = bias[row]
        }
    }

    /// Input columns `columns` of `source` become `target`'s; the bias is copied whole.
    func copyColumns(_ source: LinearParameters, _ target: LinearParameters, columns: [Int]) {
        precondition(target.inFeatures == columns.count && target.outFeatures == source.outFeatures, "parameter shapes differ")
        let weight = from.value(source.weight), newWeight = to.value(target.weight)
        for row in 0..<source.outFeatures {
            for (position, column) in columns.enumerated() {
                newWeight[row * columns.count + position] = weight[row * source.inFeatures + column]
            }
        }
        copy(source.bias, target.bias)
    }
}
