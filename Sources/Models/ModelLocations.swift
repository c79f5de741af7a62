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

    /// Where the default model may be, in the order searched: `models/bioner-minilm-8` in the
    /// working directory (a checkout), `<prefix>/share/biotag/models/bioner-minilm-8` for a binary
    /// installed as `<prefix>/bin/biotag` (`make install`), then `$BIOTAG_HOME`.
    public static var defaultModelCandidates: [String] {
        var candidates = ["models/\(defaultModelName)"]
        if let executable = executablePath {
            let prefix = ((executable as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            candidates.append((prefix as NSString).appendingPathComponent("share/biotag/models/\(defaultModelName)"))
        }
        candidates.append(fetched(defaultModelName))
        return candidates
    }

    /// The first candidate that holds a model with heads (`tasks.json`), nil when none does.
    public static func defaultModel() -> String? {
        defaultModelCandidates.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("tasks.json")) }
    }

    /// This process's binary, symbolic links resolved.
    static var executablePath: String? {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
        return path.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
    }
}
