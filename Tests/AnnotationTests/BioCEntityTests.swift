import Annotation
import Foundation
import Testing

/// A BioC XML file is annotated as the text it holds or not at all: DTD entities (which the XML
/// reader would drop from the text, or fetch from elsewhere) are refused with the line that
/// declares them, in words.
@Suite struct BioCEntityTests {
    func read(_ xml: String) throws -> [ReadItem] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-entity-\(UUID().uuidString).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        var reader = try makeReader(format: .biocXML, path: path)
        var items: [ReadItem] = []
        while let item = try reader.next() { items.append(item) }
        return items
    }

    static func collection(dtd: String, text: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE collection [
        \(dtd)
        ]>
        <collection><source>test</source><date>2026</date><key>k</key>
        <document><id>1</id><passage><offset>0</offset><text>\(text)</text></passage></document>
        </collection>
        """
    }

    @Test(arguments: [
        ("<!ENTITY drug \"cisplatin\">", "Treated with &drug; daily.", "entity 'drug'"),
        ("<!ENTITY secret SYSTEM \"file:///etc/hostname\">", "Before &secret; after.", "external entity 'secret'"),
        ("<!ENTITY a \"&b;\"><!ENTITY b \"&a;\">", "Loop &a; here.", "entity 'a'"),
    ])
    func entitiesAreRefusedWithTheirLine(dtd: String, text: String, expected: String) throws {
        do {
            let items = try read(Self.collection(dtd: dtd, text: text))
            Issue.record("read \(items) from a file with DTD entities")
        } catch let error as FormatError {
            #expect(error.line == 3, "\(error)")
            #expect(error.message.contains(expected), "\(error)")
            #expect(!error.message.contains("libxml2 error"), "\(error)")
        }
    }

    /// The predefined entities and character references are XML itself: expanded, offsets
    /// counting the expanded text.
    @Test func predefinedEntitiesAreText() throws {
        let xml = Self.collection(dtd: "<!ELEMENT collection ANY>", text: "IL-6 &amp; TNF-&#945; &lt;5%")
        let items = try read(xml)
        guard case let .document(document) = try #require(items.first) else { Issue.record("\(items)"); return }
        #expect(document.passages[0].text == "IL-6 & TNF-α <5%")
    }
}
