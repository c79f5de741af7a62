import Foundation
import Synchronization

/// The temporary files and folders this process is writing its outputs into, named
/// `.NAME.PID.UUID.tmp` beside the output they become. A run that is stopped by a signal removes
/// them (`removeAll`, from the command line's signal handler); one that is killed outright
/// (SIGKILL) leaves them, and the next run writing the same output removes those whose process
/// is gone (`removeAbandoned`). Nothing else ever renames them into place, so an output either
/// appears complete or not at all.
public enum TemporaryOutputs {
    private static let registered = Mutex<Set<String>>([])

    /// A fresh temporary name beside `destination`, registered for removal.
    static func create(beside destination: String) -> String {
        let url = URL(fileURLWithPath: destination)
        let path = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp").path
        registered.withLock { _ = $0.insert(path) }
        return path
    }

    /// The path is renamed into place or removed: no longer ours to clean.
    static func release(_ path: String) {
        registered.withLock { _ = $0.remove(path) }
    }

    /// Removes every temporary output of this process (files and folders).
    public static func removeAll() {
        for path in registered.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Removes the temporary outputs beside `destination` that a process no longer running left
    /// (`.NAME.PID.UUID.tmp` with a dead PID, and `.NAME.UUID.tmp` of versions before the PID).
    static func removeAbandoned(beside destination: String) {
        let url = URL(fileURLWithPath: destination)
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).", suffix = ".tmp"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(suffix) && name.count > prefix.count + suffix.count {
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false)
            let abandoned: Bool
            switch middle.count {
            case 1: abandoned = UUID(uuidString: String(middle[0])) != nil
            case 2:
                guard let pid = Int32(middle[0]), UUID(uuidString: String(middle[1])) != nil else { continue }
                abandoned = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            default: abandoned = false
            }
            if abandoned { try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name)) }
        }
    }
}
