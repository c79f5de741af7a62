import Annotation
import Foundation
import Models
import Testing

/// Readers never crash on input a user can supply: thousands of mutated files of every input
/// format (bytes flipped, cut, duplicated, markup characters inserted) either read or fail with
/// a `FormatError`, and every document they yield has entities inside its passages.
@Suite struct ReaderFuzzTests {
    static let samples: [InputFormat: String] = [
        .text: "Patients with Crohn's disease received infliximab 😀 and IL-6 fell.",
        .jsonl: #"{"id": "a", "text": "Aspirin reduced fever.", "title": "T"}"# + "\n" + #"{"id": 2, "text": "β-catenin in HeLa cells."}"# + "\n",
        .pubtator: "1|t|Breast cancer\n1|a|Tamoxifen helps.\n1\t0\t13\tBreast cancer\tDisease\n1\t14\t23\tTamoxifen\tChemical\tD1\n\n2|t|Mice\n",
        .biocXML: """
            <?xml version="1.0" encoding="UTF-8"?><collection><source>s</source><date>d</date><key>k</key>
            <document><id>9</id><infon key="a">b</infon><passage><infon key="type">title</infon><offset>0</offset><text>Lung cancer &amp; smoking</text>
            <annotation id="T1"><infon key="type">disease</infon><location offset="0" length="11"/><text>Lung cancer</text></annotation></passage>
            <passage><offset>30</offset><text>Second passage.</text></passage></document></collection>
            """,
        .biocJSON: """
            {"source": "s", "date": "d", "key": "k", "infons": {}, "documents": [{"id": "9", "infons": {"n": 1}, "passages": [
            {"offset": 0, "infons": {"type": "title"}, "text": "Lung cancer", "annotations": [{"id": "T1", "infons": {"type": "disease"},
            "text": "Lung cancer", "locations": [{"offset": 0, "length": 11}]}], "relations": []}], "relations": []}]}
            """,
    ]
    static let insertions: [[UInt8]] = ["\"", "{", "}", "<", ">", "&", "\n", "\t", "|", "\u{0}", "-1", "99999999999999999999", "é", "😀"].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xED, 0xA0, 0x80]]

    @Test(arguments: InputFormat.allCases) func mutatedInputsNeverCrash(format: InputFormat) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = Array(Self.samples[format]!.utf8)
        var generator = SplitMix64(seed: 7 + UInt64(format.rawValue.count))
        func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(max(bound, 1))) }
        var documents = 0
        for round in 0..<600 {
            var bytes = original
            for _ in 0...random(4) {
                switch random(5) {
                case 0 where !bytes.isEmpty: bytes[random(bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes = Array(bytes.prefix(random(bytes.count + 1)))
                case 2: bytes.insert(contentsOf: Self.insertions[random(Self.insertions.count)], at: random(bytes.count + 1))
                case 3 where !bytes.isEmpty:
                    let start = random(bytes.count), end = min(bytes.count, start + random(40))
                    bytes.insert(contentsOf: bytes[start..<end], at: random(bytes.count + 1))
                default: if !bytes.isEmpty { bytes.remove(at: random(bytes.count)) }
                }
            }
            let path = "\(directory)/input-\(round).\(format.rawValue)"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            do {
                var reader = try makeReader(format: format, path: path, textFields: ["text", "title"])
                while let item = try reader.next() {
                    guard case let .document(document) = item else { continue }
                    documents += 1
                    for passage in document.passages {
                        for entity in passage.entities {
                            #expect(entity.start >= 0 && entity.start <= entity.end && entity.end <= passage.length, "\(format) round \(round): \(entity)")
                            #expect(passage.text.scalarSlice(entity.start..<entity.end) == entity.text, "\(format) round \(round)")
                        }
                    }
                }
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(documents > 0)
    }
}
