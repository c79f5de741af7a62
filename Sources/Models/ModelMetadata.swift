/// The keys biotag writes into a model's safetensors metadata: one place for each, read and
/// written through these names only.
public enum ModelMetadataKey {
    /// The precision the encoder computes in (`ComputePrecision`), set by `biotag quantize`.
    public static let precision = "biotag.precision"
    /// How the weights are stored, in words (`biotag convert`, `biotag quantize`).
    public static let weights = "biotag.weights"
    /// Every shift of a label's logit the classifier biases carry (`biotag convert --label-bias`).
    public static let labelBias = "biotag.label-bias"
    /// Which of the source's encoder layers a smaller model kept (`biotag convert --keep-layers`).
    public static let layersKept = "biotag.layers-kept"
    /// What `biotag prune --no-recovery` kept, in words.
    public static let pruned = "biotag.pruned"
    /// The training step the weights are from, and the mean devel F1 that chose them.
    public static let step = "biotag.step"
    public static let develMeanF1 = "biotag.devel_mean_f1"
}

/// Why a model directory could not be written: which file or argument, and what was wrong.
public enum ModelWriteError: Error, CustomStringConvertible {
    /// A model file could not be read or has not what the operation needs.
    case input(path: String, reason: String)
    case output(path: String, reason: String)
    /// An option names what the model does not have.
    case argument(String)

    public var description: String {
        switch self {
        case let .input(path, reason), let .output(path, reason): "\(path): \(reason)"
        case let .argument(reason): reason
        }
    }
}
