import Foundation

/// How many records an input holds, counted from its bytes without parsing: JSON lines (non-blank
/// lines), PubTator (title or abstract lines of distinct blocks), BioC (document elements or
/// objects), text (one). An estimate for the ETA only.
public enum RecordCount {
    public static func estimate(path: String, format: InputFormat) -> Int {
        guard format != .text else { return 1 }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return 0 }
        switch format {
        case .text: return 1
        case .jsonl: return lineCounts(data).nonBlank
        case .pubtator: return lineCounts(data).blocks
        case .biocXML: return occurrences(of: "<document>", in: data) + occurrences(of: "<document ", in: data)
        case .biocJSON: return occurrences(of: "\"passages\"", in: data)
        }
    }

    /// Non-blank lines, and runs of them separated by blank lines.
    static func lineCounts(_ data: Data) -> (nonBlank: Int, blocks: Int) {
        var nonBlank = 0, blocks = 0, content = false, inBlock = false
        func endLine() {
            if content { nonBlank += 1; if !inBlock { blocks += 1 } }
            inBlock = content
            content = false
        }
        for byte in data {
            if byte == 0x0A { endLine() } else if byte != 0x20, byte != 0x09, byte != 0x0D { content = true }
        }
        endLine()
        return (nonBlank, blocks)
    }

    static func occurrences(of needle: String, in data: Data) -> Int {
        let pattern = Data(needle.utf8)
        var count = 0, start = data.startIndex
        while let found = data.range(of: pattern, in: start..<data.endIndex) {
            count += 1
            start = found.upperBound
        }
        return count
    }
}
