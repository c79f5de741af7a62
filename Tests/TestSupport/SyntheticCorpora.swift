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

    /// PubTator documents written for these tests: a title naming a chemical and a disease,
    /// then an abstract; the pair is CID when the title says the chemical induced the disease.
    public static func relationDocuments(_ count: Int) -> String {
        let chemicals = ["cisplatin", "lithium", "haloperidol", "aspirin", "cocaine", "nicotine"]
        let diseases = ["nephrotoxicity", "tremor", "catalepsy", "asthma", "seizures", "hypertension"]
        var text = ""
        for index in 0..<count {
            let chemical = chemicals[index % chemicals.count], disease = diseases[(index / 2) % diseases.count]
            let induced = index % 3 != 0
            let title = induced ? "\(chemical.capitalized) induced \(disease) in rats" : "\(chemical.capitalized) did not change \(disease) in rats"
            let abstract = "We gave \(chemical) to rats for a week. Later \(disease) was measured in every animal."
            let id = 1000 + index
            text += "\(id)|t|\(title)\n\(id)|a|\(abstract)\n"
            var mentions: [(Int, String, String)] = [(0, chemical.capitalized, "Chemical"), (title.range(of: disease)!.lowerBound.utf16Offset(in: title), disease, "Disease")]
            let shift = title.count + 1
            mentions.append((shift + abstract.range(of: chemical)!.lowerBound.utf16Offset(in: abstract), chemical, "Chemical"))
            mentions.append((shift + abstract.range(of: disease)!.lowerBound.utf16Offset(in: abstract), disease, "Disease"))
            for (start, mention, type) in mentions {
                text += "\(id)\t\(start)\t\(start + mention.count)\t\(mention)\t\(type)\tD\(type == "Chemical" ? "1" : "2")\(mention.lowercased().count)\(mention.lowercased().first!.asciiValue!)\n"
            }
            if induced {
                text += "\(id)\tCID\tD1\(chemical.count)\(chemical.first!.asciiValue!)\tD2\(disease.count)\(disease.first!.asciiValue!)\n"
            }
            text += "\n"
        }
        return text
    }
}
