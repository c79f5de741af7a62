import Annotation
import CKernels
import Foundation
import Models
import Tensors

/// A document's candidate pairs for a relation head, with their mentions' hidden states, and
/// which pairs the gold relations hold.
public struct RelationDocument: Sendable {
    public var candidates: [RelationExtraction.Candidate]
    /// The document's hidden states; only the sentences some candidate shares are needed.
    public var tokens: DocumentTokens
    public var labels: [Bool]
    /// Gold pairs that are not candidates (a concept without a mention the entities give): they
    /// count as missed in the scores.
    public var unreachable: Int

    public init(candidates: [RelationExtraction.Candidate], tokens: DocumentTokens, labels: [Bool], unreachable: Int) {
        self.candidates = candidates
        // The hidden states of sentences no pair shares are not needed: dropped to save memory.
        let shared = Set(candidates.flatMap(\.sharedSentences))
        var kept = tokens
        for index in kept.sentences.indices where !shared.contains(index) { kept.sentences[index].vectors = [] }
        self.tokens = kept
        self.labels = labels
        self.unreachable = unreachable
    }
}

public struct RelationTrainingOptions: Sendable {
    /// The projection's width (per token, in the encoder pass): 16 overfits least on BC5CDR.
    public var width = 16
    /// The pair MLP's inner width.
    public var inner = 16
    public var epochs = 30
    public var learningRate = 1e-3
    public var weightDecay = 0.01
    /// Documents per optimizer step.
    public var batchDocuments = 8
    /// Dropout on the pair MLP's input while training.
    public var dropout: Float = 0.1
    public var seed: UInt64 = 13
    /// The pair MLP's activation: GELU (erf), whose gradient `biotag_gelu_erf_backward` gives.
    public let activation = Activation.gelu

    public init() {}
}

/// A relation head's scores over documents: pairs as BioCreative V counts them (gold pairs the
/// candidates miss count against recall).
public struct RelationHeadScore: Sendable, Equatable {
    public var score = RelationScore()
    public var threshold: Double = 0.5
}

extension Array where Element == RelationHeadScore {
    /// `0.05:41.20 0.10:43.02 …`: the F1 (percent) at each threshold, for logs.
    public var f1ByThreshold: String {
        map { String(format: "%.2f:%.2f", $0.threshold, 100 * $0.score.f1) }.joined(separator: " ")
    }

    /// The score at the threshold with the best F1 (of a non-empty curve).
    public var best: RelationHeadScore { self.max { $0.score.f1 < $1.score.f1 }! }
}

/// Trains a relation head (`RelationHead`) on frozen encoder hidden states: the projection, the
/// pair MLP and its classifier learn together by binary cross-entropy over every candidate pair
/// of the training documents, with AdamW. The encoder and the token heads are not touched, so
/// the NER heads' outputs stay exactly what they were.
public final class RelationTrainer {
    public let options: RelationTrainingOptions
    public let hidden: Int
    public let features: Int
    /// The head's parameters (`projection`, `dense`, `classifier`), their gradients beside them.
    public let store = ParameterStore()
    let projection: LinearParameters
    let dense: LinearParameters
    let classifier: LinearParameters
    private var generator: SplitMix64

    public init(hidden: Int, features: Int, options: RelationTrainingOptions) {
        self.options = options
        self.hidden = hidden
        self.features = features
        projection = store.linear(["projection"], out: options.width, in: hidden)
        dense = store.linear(["dense"], out: options.inner, in: RelationHead.pairWidth(width: options.width, features: features))
        classifier = store.linear(["classifier"], out: 1, in: options.inner)
        store.allocate()
        generator = SplitMix64(seed: options.seed)
        // Uniform ±1/√in, as torch.nn.Linear starts, biases zero.
        for layer in [projection, dense, classifier] {
            let bound = 1 / Float(layer.inFeatures).squareRoot()
            let weight = store.value(layer.weight)
            for i in 0..<layer.weight.count { weight[i] = Float.random(in: -bound...bound, using: &generator) }
        }
    }

    /// The pooled projection of vectors and, per output, the vector that gave the max; zeros
    /// (and no source) for none.
    private func pool(_ vectors: [[Float]]) -> (vector: [Float], source: [Int]) {
        let w = options.width, weight = store.value(projection.weight), bias = store.value(projection.bias)
        guard !vectors.isEmpty else { return ([Float](repeating: 0, count: w), []) }
        var vector = [Float](repeating: -.infinity, count: w), source = [Int](repeating: 0, count: w)
        for (m, input) in vectors.enumerated() {
            for o in 0..<w {
                var sum = bias[o]
                let row = weight + o * hidden
                for i in 0..<hidden { sum += row[i] * input[i] }
                if sum > vector[o] { vector[o] = sum; source[o] = m }
            }
        }
        return (vector, source)
    }

    /// The probability of every candidate of a document; with `labels`, gradients of the mean
    /// loss over `pairs` pairs (times `weight`) are added to the store and the summed loss
    /// returned. With `hiddenGradients`, also the loss's gradient with respect to each wordpiece
    /// vector the document's tokens hold (the encoder's hidden states when it trains with the head).
    private func pass(_ document: RelationDocument, labels: [Bool]?, pairs: Int, weight: Float = 1, dropout: Bool = true,
                      hiddenGradients: UnsafeMutablePointer<[DocumentTokens.Place: [Float]]>? = nil) -> (probabilities: [Double], loss: Double) {
        let w = options.width, inner = options.inner, width = RelationHead.pairWidth(width: w, features: features)
        // Concepts and contexts recur across pairs: each is pooled once.
        var pooled: [String: (vector: [Float], source: [Int], inputs: [[Float]])] = [:]
        // Per pooled key, the wordpieces each input is the mean of.
        var pieces: [String: [[DocumentTokens.Place]]] = [:]
        func keys(_ candidate: RelationExtraction.Candidate) -> [String] {
            ["1:" + candidate.first, "2:" + candidate.second, "3:" + candidate.sharedSentences.map(String.init).joined(separator: ",")]
        }
        for candidate in document.candidates {
            let inputs = [candidate.firstMentions, candidate.secondMentions, document.tokens.rows(of: candidate.sharedSentences)]
            for (key, vectors) in zip(keys(candidate), inputs) where pooled[key] == nil {
                let result = pool(vectors)
                pooled[key] = (result.vector, result.source, vectors)
            }
            if hiddenGradients != nil {
                let key = keys(candidate)
                if pieces[key[0]] == nil { pieces[key[0]] = candidate.firstPieces }
                if pieces[key[1]] == nil { pieces[key[1]] = candidate.secondPieces }
                if pieces[key[2]] == nil {
                    pieces[key[2]] = candidate.sharedSentences.flatMap { sentence in
                        (0..<document.tokens.sentences[sentence].offsets.count).map { [DocumentTokens.Place(sentence: sentence, token: $0)] }
                    }
                }
            }
        }
        var upstream: [String: [Float]] = [:]
        let w1 = store.value(dense.weight), b1 = store.value(dense.bias), w2 = store.value(classifier.weight), b2 = store.value(classifier.bias)
        let gw1 = store.gradient(dense.weight), gb1 = store.gradient(dense.bias), gw2 = store.gradient(classifier.weight), gb2 = store.gradient(classifier.bias)
        var probabilities: [Double] = []
        var loss = 0.0
        var pre = [Float](repeating: 0, count: inner), post = [Float](repeating: 0, count: inner)
        // The store's layers as the head's shared forward pass reads them.
        let denseLayer = LinearWeight(weight: w1, bias: b1, outFeatures: inner, inFeatures: width, owner: nil)
        let classifierLayer = LinearWeight(weight: w2, bias: b2, outFeatures: 1, inFeatures: inner, owner: nil)
        for (index, candidate) in document.candidates.enumerated() {
            let names = keys(candidate)
            let a = pooled[names[0]]!.vector, b = pooled[names[1]]!.vector, context = pooled[names[2]]!.vector
            var input = RelationHead.pairInput(a, b, context: context, features: candidate.features)
            var mask: [Float]?
            if labels != nil, dropout, options.dropout > 0 {
                let keep = 1 - options.dropout
                let drawn = (0..<width).map { _ in Float.random(in: 0..<1, using: &generator) < keep ? 1 / keep : 0 }
                for i in 0..<width { input[i] *= drawn[i] }
                mask = drawn
            }
            let logit = RelationHead.logit(input, dense: denseLayer, classifier: classifierLayer, activation: options.activation, pre: &pre, post: &post)
            let probability = 1 / (1 + exp(-Double(logit)))
            probabilities.append(probability)
            guard let labels else { continue }
            let target = labels[index] ? 1.0 : 0.0
            loss -= target * log(max(probability, 1e-12)) + (1 - target) * log(max(1 - probability, 1e-12))
            let gLogit = weight * Float((probability - target) / Double(pairs))
            gb2[0] += gLogit
            var gInput = [Float](repeating: 0, count: width)
            var gPre = (0..<inner).map { gLogit * w2[$0] }
            biotag_gelu_erf_backward(pre, &gPre, inner)
            for o in 0..<inner {
                gw2[o] += gLogit * post[o]
                let gPre = gPre[o]
                gb1[o] += gPre
                let row = w1 + o * width, gRow = gw1 + o * width
                for i in 0..<width {
                    gRow[i] += gPre * input[i]
                    gInput[i] += gPre * row[i]
                }
            }
            if let mask { for i in 0..<width { gInput[i] *= mask[i] } }
            var gA = [Float](repeating: 0, count: w), gB = [Float](repeating: 0, count: w)
            for i in 0..<w {
                gA[i] = gInput[i] + gInput[2 * w + i] * b[i]
                gB[i] = gInput[w + i] + gInput[2 * w + i] * a[i]
            }
            for (id, gradient) in zip(names, [gA, gB, Array(gInput[(3 * w)..<(4 * w)])]) {
                if upstream[id] == nil { upstream[id] = gradient } else { for i in 0..<w { upstream[id]![i] += gradient[i] } }
            }
        }
        // Each output of a pooled vector came from one input: its gradient goes there.
        let gP = store.gradient(projection.weight), gBias = store.gradient(projection.bias), weights = store.value(projection.weight)
        for (id, gradient) in upstream.sorted(by: { $0.key < $1.key }) {
            let concept = pooled[id]!
            guard !concept.source.isEmpty else { continue }
            var inputGradients: [Int: [Float]] = [:]
            for o in 0..<w where gradient[o] != 0 {
                gBias[o] += gradient[o]
                let source = concept.source[o], mention = concept.inputs[source], row = gP + o * hidden
                for i in 0..<hidden { row[i] += gradient[o] * mention[i] }
                guard hiddenGradients != nil else { continue }
                let weight = weights + o * hidden
                var input = inputGradients[source] ?? [Float](repeating: 0, count: hidden)
                for i in 0..<hidden { input[i] += gradient[o] * weight[i] }
                inputGradients[source] = input
            }
            guard let hiddenGradients, let places = pieces[id] else { continue }
            // A mention is the mean of its wordpieces: each gets its share.
            for (source, input) in inputGradients {
                let share = 1 / Float(places[source].count)
                for place in places[source] {
                    var total = hiddenGradients.pointee[place] ?? [Float](repeating: 0, count: hidden)
                    for i in 0..<hidden { total[i] += share * input[i] }
                    hiddenGradients.pointee[place] = total
                }
            }
        }
        return (probabilities, loss)
    }

    /// The mean loss over every candidate of `documents`, its gradients left in `store` (without
    /// dropout: what a gradient check compares with finite differences).
    public func lossWithGradients(_ documents: [RelationDocument]) -> Double {
        store.zeroGradients()
        let pairs = documents.reduce(0) { $0 + $1.candidates.count }
        var loss = 0.0
        for document in documents { loss += pass(document, labels: document.labels, pairs: pairs, dropout: false).loss }
        return loss / Double(max(1, pairs))
    }

    /// The mean loss over every candidate of `documents` times `weight`, its gradients added to
    /// `store` (with dropout unless told otherwise) and, per document, its gradient with respect to each wordpiece
    /// vector the document's tokens hold: what flows back into the encoder when it trains with
    /// the head. The candidates must carry their mentions' wordpieces.
    public func hiddenGradients(_ documents: [RelationDocument], weight: Float, dropout: Bool = true)
        -> (loss: Double, pairs: Int, gradients: [[DocumentTokens.Place: [Float]]]) {
        let pairs = documents.reduce(0) { $0 + $1.candidates.count }
        var loss = 0.0
        var gradients: [[DocumentTokens.Place: [Float]]] = []
        for document in documents {
            var gradient: [DocumentTokens.Place: [Float]] = [:]
            loss += pass(document, labels: document.labels, pairs: max(1, pairs), weight: weight, dropout: dropout, hiddenGradients: &gradient).loss
            gradients.append(gradient)
        }
        return (loss, pairs, gradients)
    }

    /// Restarts the dropout masks' random stream (a resumed run draws what the first drew).
    public func reseed(_ seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// The probabilities of every candidate of each document.
    public func probabilities(_ documents: [RelationDocument]) -> [[Double]] {
        documents.map { pass($0, labels: nil, pairs: 1).probabilities }
    }

    /// Scores at the threshold that gives the best F1 over `documents` (when `chooseThreshold`)
    /// or at `threshold`.
    public func score(_ documents: [RelationDocument], threshold: Double = 0.5, chooseThreshold: Bool = false) -> RelationHeadScore {
        guard chooseThreshold else { return Self.scored(documents, probabilities: probabilities(documents), at: threshold) }
        return curve(documents).best
    }

    /// The thresholds a head's threshold is chosen among: 0.05, 0.10, …, 0.95.
    public static let thresholds = (1...19).map { Double($0) / 20 }

    /// The scores over `documents` at each of `thresholds`.
    public func curve(_ documents: [RelationDocument]) -> [RelationHeadScore] {
        let all = probabilities(documents)
        return Self.thresholds.map { Self.scored(documents, probabilities: all, at: $0) }
    }

    private static func scored(_ documents: [RelationDocument], probabilities all: [[Double]], at threshold: Double) -> RelationHeadScore {
        var result = RelationHeadScore(threshold: threshold)
        for (document, probabilities) in zip(documents, all) {
            let gold = document.labels.filter { $0 }.count + document.unreachable
            let predicted = probabilities.filter { $0 >= threshold }.count
            let correct = zip(probabilities, document.labels).filter { $0.0 >= threshold && $0.1 }.count
            result.score.gold += gold
            result.score.predicted += predicted
            result.score.correct += correct
        }
        return result
    }

    /// Trains on `train`, scoring `heldOut` after each epoch; keeps the epoch whose held-out F1
    /// (at its best threshold) was highest and returns that score.
    public func train(_ train: [RelationDocument], heldOut: [RelationDocument], log: (String) -> Void) -> RelationHeadScore {
        let optimizer = AdamW(store: store)
        optimizer.weightDecay = options.weightDecay
        let batchCount = (train.count + options.batchDocuments - 1) / options.batchDocuments
        let steps = batchCount * options.epochs
        var best = (result: RelationHeadScore(), values: [Float](), epoch: 0)
        var order = Array(train.indices)
        var step = 0
        for epoch in 1...options.epochs {
            order.shuffle(using: &generator)
            var loss = 0.0, pairs = 0
            for batch in 0..<batchCount {
                let members = order[(batch * options.batchDocuments)..<min(order.count, (batch + 1) * options.batchDocuments)].map { train[$0] }
                let count = members.reduce(0) { $0 + $1.candidates.count }
                guard count > 0 else { continue }
                store.zeroGradients()
                for document in members { loss += pass(document, labels: document.labels, pairs: count).loss }
                pairs += count
                store.clipGradients(maxNorm: 1)
                // Linear decay to zero over the run.
                optimizer.update(learningRate: options.learningRate * (1 - Double(step) / Double(steps)))
                step += 1
            }
            let held = score(heldOut, chooseThreshold: true)
            log(String(format: "epoch %d  loss %.4f  held-out P %.2f R %.2f F1 %.2f at threshold %.2f", epoch, loss / Double(max(1, pairs)),
                       100 * held.score.precision, 100 * held.score.recall, 100 * held.score.f1, held.threshold))
            if held.score.f1 > best.result.score.f1 || best.values.isEmpty {
                best = (held, Array(UnsafeBufferPointer(start: store.values.pointer, count: store.count)), epoch)
            }
        }
        store.values.pointer.update(from: best.values, count: store.count)
        log("kept epoch \(best.epoch)")
        return best.result
    }

    /// Starts from a stored head's weights, `<prefix>.projection.weight` and so on (any storage
    /// `SafetensorsFile` reads).
    public func load(from file: SafetensorsFile, prefix: String) throws(ModelLoadError) {
        for parameter in store.parameters { try store.load(parameter, names: parameter.names.map { prefix + "." + $0 }, from: file) }
    }

    /// The head's entry of `tasks.json`: tensors under `heads.<name>.`, as `records(prefix:)` names them.
    public func spec(name: String, type: String, arguments: [RelationArgument], features: [RelationFeature], threshold: Double) -> TaskSpec {
        let prefix = "heads.\(name)"
        return TaskSpec(name: name, kind: .relation, labels: [type], activation: options.activation,
                        tensors: ["projection": prefix + ".projection", "dense": prefix + ".dense", "classifier": prefix + ".classifier"],
                        innerSize: options.inner, arguments: arguments, features: features, threshold: threshold)
    }

    /// The head's tensors, named `<prefix>.projection.weight` and so on.
    public func records(prefix: String) -> [TensorRecord] {
        store.records().map { record in
            TensorRecord(name: prefix + "." + record.name, dtype: record.dtype, shape: record.shape, bytes: record.bytes)
        }
    }
}
