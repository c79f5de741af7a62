import Foundation

/// Where biotag finds models: `$BIOTAG_HOME` (default `~/.cache/biotag`) for fetched ones, and the
/// default model beside the working directory, beside an installed binary, or in `$BIOTAG_HOME`.
public enum ModelLocations {
    /// The default model's directory name.
    public static let defaultModelName = "bioner-minilm-8"

    /// `$BIOTAG_HOME`, default `~/.cache/biotag`.
    public static var home: String {
        ProcessInfo.processInfo.environment["BIOTAG_HOME"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/biotag")
    }

    /// `$BIOTAG_HOME/models/<name>`.
    public static func fetched(_ name: String) -> String {
        (home as NSString).appendingPathComponent("models/\(name)")
    }

    /// The pruned default model (`make fast-model`): `--model fast`.
    public static let fastModelName = "bioner-minilm-8-fast"

    /// Names `--model` takes for the shipped models, wherever they are installed.
    public static let shortcuts = ["fast": fastModelName]

    /// Where the default model may be, in the order searched: `models/bioner-minilm-8` in the
    /// working directory (a checkout), `<prefix>/share/biotag/models/bioner-minilm-8` for a binary
    /// installed as `<prefix>/bin/biotag` (`make install`), then `$BIOTAG_HOME`.
    public static var defaultModelCandidates: [String] { candidates(of: defaultModelName) }

    /// Where a shipped model named `name` may be, searched as the default model is.
    public static func candidates(of name: String) -> [String] {
        var candidates = ["models/\(name)"]
        if let executable = executablePath {
            let prefix = ((executable as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            candidates.append((prefix as NSString).appendingPathComponent("share/biotag/models/\(name)"))
        }
        candidates.append(fetched(name))
        return candidates
    }

    /// The first candidate that holds a model with heads (`tasks.json`), nil when none does.
    public static func defaultModel() -> String? { installed(defaultModelName) }

    /// The first place a shipped model named `name` is found (with its `tasks.json`).
    public static func installed(_ name: String) -> String? {
        candidates(of: name).first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("tasks.json")) }
    }

    /// A `--model` value as a directory: a shortcut (`fast`) names its shipped model unless a
    /// directory of that name is here; anything else is a directory. nil: the shortcut's model
    /// is not installed.
    public static func resolve(_ value: String) -> String? {
        guard let name = shortcuts[value], !FileManager.default.fileExists(atPath: value) else { return value }
        return installed(name)
    }

    /// This process's binary, symbolic links resolved.
    static var executablePath: String? {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
        return path.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
    }
}
