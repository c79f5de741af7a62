import Foundation
import Models
import Tensors
import Tokenization

/// What a run did: devel scores over time and the speed.
public struct TrainingHistory: Codable, Sendable {
    public struct Evaluation: Codable, Sendable {
        public let step: Int
        public let epoch: Double
        public let develF1: [String: Double]
        public let meanF1: Double
    }
    public var evaluations: [Evaluation] = []
    public var bestStep: Int?
    public var bestMeanF1: Double?
    public var trainSeconds = 0.0
    public var realTokens = 0
    public var steps = 0
    public var tokensPerSecond: Double { trainSeconds > 0 ? Double(realTokens) / trainSeconds : 0 }
}

/// The checkpoint's own record, written last so that a checkpoint without it is incomplete.
struct CheckpointState: Codable {
    let step: Int
    let settings: TrainingSettings
    let tasks: [String]
    /// Training windows per task (own corpus and extras): another corpus is another run.
    /// Absent in checkpoints written before extra corpora existed.
    var windows: [Int]?
    let history: TrainingHistory
}
