import Foundation

/// A tiny two-task corpus in the bioner layout: `disease` labels diseases, `chemical` labels
/// chemicals, and each mentions the other's entities unlabelled (as the real corpora do).
public enum SyntheticCorpora {
    static let diseases = [["breast", "cancer"], ["colon", "cancer"], ["leukemia"], ["diabetes"], ["hepatitis"]]
    static let chemicals = [["tamoxifen"], ["cisplatin"], ["aspirin"], ["ethanol"], ["glucose"]]

    static func sentences(labelling type: String, count: Int, seed: UInt64) -> String {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        var lines: [String] = []
        for _ in 0..<count {
            let disease = diseases[Int(next() % 5)], chemical = chemicals[Int(next() % 5)]
            var words: [(String, String)] = [("Patients", "O"), ("with", "O")]
            words += disease.enumerated().map { ($1, type == "Disease" ? ($0 == 0 ? "B-Disease" : "I-Disease") : "O") }
            words += [("received", "O")]
            words += chemical.map { ($0, type == "Chemical" ? "B-Chemical" : "O") }
            words += [(".", "O")]
            lines += words.map { "\($0.0)\t\($0.1)" } + [""]
        }
        return lines.joined(separator: "\n")
    }

    /// Writes `disease/` and `chemical/` with train, devel and test splits into a new temporary
    /// folder and returns its path.
    public static func write() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-corpora-\(UUID().uuidString)").path
        for (task, type) in [("disease", "Disease"), ("chemical", "Chemical")] {
            let folder = (root as NSString).appendingPathComponent(task)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (split, count) in [("train", 48), ("devel", 12), ("test", 12)] {
                try sentences(labelling: type, count: count, seed: UInt64(split.count * 7 + type.count)).write(
                    toFile: (folder as NSString).appendingPathComponent("\(split).tsv"), atomically: true, encoding: .utf8)
            }
        }
        return root
    }
}

