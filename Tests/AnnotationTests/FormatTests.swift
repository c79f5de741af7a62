import Annotation
import Foundation
import Testing

/// The document codecs: every input format read, every output format written, round trips, and
/// bad records kept as rejects. Offsets are checked against a naive scalar search, not the codecs.
@Suite struct FormatTests {
    /// A fresh directory under the system temporary directory.
    struct Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-formats-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        func write(_ name: String, _ text: String) throws -> String { try write(name, Data(text.utf8)) }
        func write(_ name: String, _ data: Data) throws -> String {
            try data.write(to: url.appendingPathComponent(name))
            return path(name)
        }
        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    static let model = ModelIdentity(name: "biotag-test", version: "0.1")

    static func readAll(_ format: InputFormat, _ path: String, textFields: [String] = ["text"]) throws -> [ReadItem] {
        var reader = try makeReader(format: format, path: path, textFields: textFields)
        var items: [ReadItem] = []
        while let item = try reader.next() { items.append(item) }
        return items
    }

    static func documents(_ items: [ReadItem]) -> [Document] {
        items.compactMap { if case .document(let document) = $0 { document } else { nil } }
    }

    static func write(_ documents: [Document], _ format: OutputFormat, to destination: String) throws {
        var writer = try makeWriter(format: format, destination: destination)
        for document in documents { try writer.write(document, model: model) }
        try writer.finish()
    }

    /// Where `needle` first occurs in `text`, in Unicode scalars (a naive loop, the reference).
    static func scalarRange(of needle: String, in text: String) -> Range<Int>? {
        let hay = Array(text.unicodeScalars), pin = Array(needle.unicodeScalars)
        guard pin.count <= hay.count else { return nil }
        for start in 0...(hay.count - pin.count) where Array(hay[start..<start + pin.count]) == pin {
            return start..<start + pin.count
        }
        return nil
    }

    /// A passage with entities at the first occurrence of each mention.
    static func passage(_ text: String, offset: Int = 0, infons: [String: String] = [:], _ mentions: [(String, String)]) -> Passage {
        let entities = mentions.compactMap { mention, type in
            scalarRange(of: mention, in: text).map { Entity(type: type, start: $0.lowerBound, end: $0.upperBound, text: mention, score: 0.912345) }
        }
        return Passage(text: text, offset: offset, infons: infons, entities: entities)
    }

    static let unicodeDocument = Document(id: "u1", passages: [passage(
        "IL\u{2011}6 \u{FB01}brosis 😀 β-catenin in cafe\u{301} patients; 肝纤维化 progressed.",
        mentions)])
    /// Non-breaking hyphen, a ligature, an emoji before, a combining accent, CJK.
    static let mentions = [("IL\u{2011}6", "gene"), ("\u{FB01}brosis", "disease"), ("β-catenin", "gene"), ("cafe\u{301}", "chemical"), ("肝纤维化", "disease")]

    @Test func plainTextIsOneDocumentAndBadFilesAreRejects() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let text = "Loss of BRCA1 raises the risk of ovarian cancer.\r\nSecond line 😀.\n"
        let items = try Self.readAll(.text, scratch.write("case-12.report.txt", text))
        #expect(items == [.document(Document(id: "case-12.report", text: text))])
        let empty = scratch.path("blank.txt")
        #expect(try Self.readAll(.text, scratch.write("blank.txt", " \n\t\n")) == [.rejected(Reject(id: "blank", location: empty, reason: "empty text"))])
        let invalid = try scratch.write("bytes.txt", Data([0x41, 0xFF, 0xFE, 0x42]))
        #expect(try Self.readAll(.text, invalid) == [.rejected(Reject(id: "bytes", location: invalid, reason: "not valid UTF-8"))])
        #expect(throws: FormatError.self) { try Self.readAll(.text, scratch.path("missing.txt")) }
    }

    @Test func jsonLinesKeepGoodRecordsAfterRejects() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var data = Data("""
        {"id": 101, "title": "Tamoxifen and breast cancer.", "abstract": "We followed 40 women.", "year": 2019}
        {"id": "102", "title": "Unclosed
        {"title": "No identifier here."}

        {"id": "104", "title": "", "abstract": null}
        [1, 2, 3]
        {"id": "106", "title": 7}
        {"id": "107", "other": "no text fields"}\n
        """.utf8)
        data.append(contentsOf: [0x7B, 0x22, 0x69, 0xFF, 0x0A])  // line 9: invalid UTF-8
        data.append(contentsOf: Data(#"{"id": "110", "abstract": "Cisplatin nephrotoxicity was mild."}"#.utf8))  // no final newline
        let path = try scratch.write("records.jsonl", data)
        let items = try Self.readAll(.jsonl, path, textFields: ["title", "abstract"])
        #expect(items == [
            .document(Document(id: "101", passages: [
                Passage(text: "Tamoxifen and breast cancer.", offset: 0, infons: ["field": "title"]),
                Passage(text: "We followed 40 women.", offset: 29, infons: ["field": "abstract"]),
            ])),
            .rejected(Reject(location: "\(path):2", reason: "not valid JSON")),
            .rejected(Reject(location: "\(path):3", reason: "no \"id\" field")),
            .rejected(Reject(id: "104", location: "\(path):5", reason: "empty text")),
            .rejected(Reject(location: "\(path):6", reason: "not a JSON object")),
            .rejected(Reject(id: "106", location: "\(path):7", reason: "field \"title\" is not a string")),
            .rejected(Reject(id: "107", location: "\(path):8", reason: "none of the text fields title, abstract")),
            .rejected(Reject(location: "\(path):9", reason: "not valid UTF-8")),
            .document(Document(id: "110", passages: [Passage(text: "Cisplatin nephrotoxicity was mild.", infons: ["field": "abstract"])])),
        ])
    }

    @Test func jsonLinesReadLongLines() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let long = String(repeating: "Aspirin reduced platelet aggregation in 😀 vitro. ", count: 60_000)
        let path = try scratch.write("long.jsonl", "{\"id\":\"a\",\"text\":\"\(long)\"}\n{\"id\":\"b\",\"text\":\"short\"}\n")
        let documents = Self.documents(try Self.readAll(.jsonl, path))
        #expect(documents.map(\.id) == ["a", "b"])
        #expect(documents.first?.passages.first?.text == long)
    }

    @Test func jsonLinesOutputNamesFieldsAndOffsets() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let single = Document(id: "s1", passages: [Self.passage("Metformin lowers glucose.", [("Metformin", "chemical")])])
        let double = Document(id: "d1", passages: [
            Self.passage("Asthma in children", infons: ["field": "title"], [("Asthma", "disease")]),
            Self.passage("Inhaled budesonide helped.", offset: 19, infons: ["field": "abstract"], [("budesonide", "chemical")]),
        ])
        let path = scratch.path("out.jsonl")
        try Self.write([single, double], .jsonl, to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.count == 2)
        #expect(objects[0]["text"] as? String == "Metformin lowers glucose.")
        #expect(objects[0]["model"] as? [String: String] == ["name": "biotag-test", "version": "0.1"])
        let first = try #require((objects[0]["entities"] as? [[String: Any]])?.first)
        #expect(first["start"] as? Int == 0 && first["end"] as? Int == 9 && first["score"] as? Double == 0.9123 && first["field"] == nil)
        #expect(objects[1]["title"] as? String == "Asthma in children" && objects[1]["text"] == nil)
        let entities = try #require(objects[1]["entities"] as? [[String: Any]])
        #expect(entities.map { $0["field"] as? String } == ["title", "abstract"])
        #expect(entities.map { $0["start"] as? Int } == [0, 8], "offsets relative to the field's text")
    }

    /// Every writer that has a reader keeps every entity's offsets on the same scalars.
    @Test func nonASCIITextKeepsScalarOffsetsThroughEveryFormat() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let pairs: [(OutputFormat, InputFormat)] = [(.jsonl, .jsonl), (.biocXML, .biocXML), (.biocJSON, .biocJSON), (.pubtator, .pubtator)]
        for (output, input) in pairs {
            let path = scratch.path("unicode.\(output.rawValue)")
            try Self.write([Self.unicodeDocument], output, to: path)
            let documents = Self.documents(try Self.readAll(input, path))
            let entities = documents.flatMap { $0.passages.flatMap { passage in passage.entities.map { (passage.text, $0) } } }
            if input == .jsonl {
                #expect(documents.map(\.id) == ["u1"])  // JSONL input carries no annotations
                #expect(documents.first?.passages.first?.text == Self.unicodeDocument.passages[0].text)
                continue
            }
            #expect(entities.map { $0.1.text } == Self.mentions.map { $0.0 }, "\(output)")
            for (text, entity) in entities {
                #expect(Self.scalarRange(of: entity.text, in: text) == entity.start..<entity.end, "\(output)")
                #expect(text.scalarSlice(entity.start..<entity.end) == entity.text)
            }
        }
        let jsonl = try String(contentsOfFile: scratch.path("unicode.jsonl"), encoding: .utf8)
        #expect(jsonl.contains("肝纤维化") && jsonl.contains("😀"), "non-ASCII kept as UTF-8")
        let object = try #require(JSONSerialization.jsonObject(with: Data(jsonl.utf8)) as? [String: Any])
        let text = try #require(object["text"] as? String)
        for entity in try #require(object["entities"] as? [[String: Any]]) {
            let range = Self.scalarRange(of: try #require(entity["text"] as? String), in: text)
            #expect(range == (entity["start"] as? Int ?? -1)..<(entity["end"] as? Int ?? -1))
        }
    }

    static let biocXML = """
    <?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE collection SYSTEM "BioC.dtd">
    <collection><source>PubMed</source><date>20240105</date><key>collection.key</key>
      <document><id>31000001</id><infon key="journal">J Hepatol</infon>
        <passage><infon key="type">title</infon><offset>0</offset>
          <text>Hepatitis B &amp; liver fibrosis</text>
          <annotation id="1"><infon key="type">Disease</infon><location offset="0" length="11"/><text>Hepatitis B</text></annotation>
          <annotation id="2"><infon key="type">Disease</infon><location offset="500" length="4"/><text>gone</text></annotation>
        </passage>
        <passage><infon key="type">abstract</infon><offset>100</offset>
          <text>Entecavir&#13;
    lowered HBV DNA in 30 of 41 patients.</text>
          <annotation id="3"><infon key="type">Chemical</infon><location offset="100" length="9"/><text>Entecavir</text></annotation>
        </passage>
      </document>
      <document><infon key="note">no id</infon><passage><offset>0</offset><text>Orphan passage.</text></passage></document>
      <document><id>31000003</id><passage><offset>0</offset><sentence><offset>0</offset><text>Gefitinib targets EGFR.</text></sentence><sentence><offset>25</offset><text>Rash was common.</text></sentence></passage></document>
    </collection>
    """

    @Test func biocXMLRoundTripKeepsDocumentsOffsetsInfonsAndText() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("in.xml", Self.biocXML)
        let items = try Self.readAll(.biocXML, path)
        #expect(items.count == 3)
        #expect(items[1] == .rejected(Reject(location: "\(path):16", reason: "document without an id")))
        let original = Self.documents(items)
        let first = try #require(original.first)
        #expect(first.infons == ["journal": "J Hepatol"])
        #expect(first.passages.map(\.offset) == [0, 100])
        #expect(first.passages[1].text == "Entecavir\r\nlowered HBV DNA in 30 of 41 patients.")
        #expect(first.documentEntities == [Entity(type: "Disease", start: 0, end: 11, text: "Hepatitis B"), Entity(type: "Chemical", start: 100, end: 109, text: "Entecavir")])
        #expect(original[1].passages.first?.text == "Gefitinib targets EGFR.  Rash was common.")
        let out = scratch.path("out.xml")
        try Self.write(original, .biocXML, to: out)
        #expect(Self.documents(try Self.readAll(.biocXML, out)) == original)
        let written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written.contains("<infon key=\"annotator\">biotag-test 0.1</infon>") && written.contains("<annotation id=\"T2\">"))
    }

    static let biocJSON = """
    {"source":"PubTator","date":"20240105","key":"BioC.key","infons":{},"documents":[
     {"id":"32000001","infons":{"year":2020,"open":true,"authors":["A","B"],"none":null},"passages":[
      {"offset":0,"infons":{"type":"title"},"text":"Imatinib in chronic myeloid leukemia","sentences":[],"annotations":[
       {"id":"1","infons":{"identifier":"MESH:D000068877","type":"Chemical","valid":true},"text":"Imatinib","locations":[{"offset":0,"length":8}]}],"relations":[]},
      {"offset":37,"infons":{"type":"abstract"},"text":"Responses lasted.","sentences":[],"annotations":[],"relations":[]}],"relations":[]},
     {"infons":{},"passages":[]},
     {"id":32000003,"infons":{},"passages":[{"offset":"0","infons":{},"text":"Ibuprofen 😀 eased pain.","annotations":[]}]},
     {"id":"32000004","passages":[{"offset":"x","text":"Offset is not a number."}]}
    ]}
    """

    @Test func biocJSONRoundTripKeepsDocumentsOffsetsInfonsAndText() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("in.json", Self.biocJSON)
        let items = try Self.readAll(.biocJSON, path)
        #expect(items.count == 4)
        #expect(items[1] == .rejected(Reject(location: path, reason: "document without an id (document 2)")))
        #expect(items[3] == .rejected(Reject(id: "32000004", location: path, reason: "at documents[3].passages[0].offset: expected an integer offset, found 'x' (document 4)")))
        let original = Self.documents(items)
        #expect(original.map(\.id) == ["32000001", "32000003"])
        #expect(original[0].infons == ["year": "2020", "open": "true"])
        #expect(original[0].passages.map(\.offset) == [0, 37])
        // The identifier infon becomes the entity's concept (PubTator3 writes ids there).
        #expect(original[0].documentEntities == [Entity(type: "Chemical", start: 0, end: 8, text: "Imatinib", concepts: [ConceptReference(id: "MESH:D000068877", name: "")])])
        let out = scratch.path("out.json")
        try Self.write(original, .biocJSON, to: out)
        #expect(Self.documents(try Self.readAll(.biocJSON, out)) == original)
        let object = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        #expect(object["source"] as? String == "biotag" && object["key"] as? String == "biotag.key")
        #expect((object["date"] as? String)?.count == 8)
    }

    static let pubtator = """
    33000001|t|Valproate-induced hepatotoxicity
    33000001|a|A child developed liver failure after valproate.
    33000001\t0\t9\tValproate\tChemical\tD014635
    33000001\t10\t32\tinduced hepatotoxicity\tDisease\tD056486
    33000001\t71\t80\tvalproate\tChemical\tD014635
    33000001\tCID\tD014635\tD056486

    33000002|t|Broken block
    33000002\tten\t20\tBroken\tDisease

    33000003|a|Only an abstract about lithium toxicity.
    33000003\t23\t39\tlithium toxicity\tDisease\n
    """

    @Test func pubTatorReadsWritesAndReadsBackEqual() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("in.pubtator", Self.pubtator)
        let items = try Self.readAll(.pubtator, path)
        #expect(items.count == 3)
        #expect(items[1] == .rejected(Reject(id: "33000002", location: "\(path):9", reason: "expected PMID<TAB>start<TAB>end<TAB>mention<TAB>type, found '33000002\tten\t20\tBroken\tDisease'")))
        let original = Self.documents(items)
        #expect(original[0].passages.map(\.offset) == [0, 33])
        #expect(original[0].passages.map { $0.infons["type"] } == ["title", "abstract"])
        #expect(original[0].documentEntities.map(\.text) == ["Valproate", "induced hepatotoxicity", "valproate"])
        #expect(original[1].passages == [Passage(text: "Only an abstract about lithium toxicity.", infons: ["type": "abstract"], entities: [Entity(type: "Disease", start: 23, end: 39, text: "lithium toxicity")])])
        let out = scratch.path("out.pubtator")
        try Self.write(original, .pubtator, to: out)
        #expect(Self.documents(try Self.readAll(.pubtator, out)) == original)
        // Relation lines become the document's relations, written back after the entities.
        #expect(original[0].relations == [Relation(type: "CID", arguments: [.init(role: "chemical", concept: "D014635"), .init(role: "disease", concept: "D056486")])])
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("33000001\t71\t80\tvalproate\tChemical\tD014635\n33000001\tCID\tD014635\tD056486\n\n"))
        // Concept ids are read from the 6th column and written back there; "no id" stays none.
        #expect(original[0].documentEntities.map { $0.concepts.map(\.id) } == [["D014635"], ["D056486"], ["D014635"]])
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("33000001\t71\t80\tvalproate\tChemical\tD014635\n"))
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("33000003|a|Only an abstract about lithium toxicity.\n33000003\t23\t39\tlithium toxicity\tDisease\n"))
    }

    /// A CID relation read from PubTator goes out in every format with a place for it: BioC
    /// `relation` elements (role infons, a node per mention of each concept) read back equal,
    /// brat `R` lines between the first mention of each concept, a `relations` key in JSONL.
    @Test func relationsInEveryFormat() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("in.pubtator", Self.pubtator)
        var document = Self.documents(try Self.readAll(.pubtator, path))[0]
        document.relations[0].score = 0.8765
        // A relation to a concept that no entity mentions: BioC and JSONL keep it, brat cannot.
        document.relations.append(Relation(type: "CID", arguments: [.init(role: "chemical", concept: "D014635"), .init(role: "disease", concept: "D000001")]))

        for format in [OutputFormat.biocXML, .biocJSON] {
            let out = scratch.path("out.\(format)")
            try Self.write([document], format, to: out)
            let back = Self.documents(try Self.readAll(format == .biocXML ? .biocXML : .biocJSON, out))
            #expect(back.first?.relations == document.relations, "\(format)")
            let written = try String(contentsOfFile: out, encoding: .utf8)
            if format == .biocXML {
                #expect(written.contains("<relation id=\"R1\">\n      <infon key=\"chemical\">D014635</infon>\n      <infon key=\"disease\">D056486</infon>\n"
                    + "      <infon key=\"score\">0.8765</infon>\n      <infon key=\"type\">CID</infon>\n      <node refid=\"T1\" role=\"chemical\"/>\n"
                    + "      <node refid=\"T3\" role=\"chemical\"/>\n      <node refid=\"T2\" role=\"disease\"/>\n    </relation>"), "\(written)")
            } else {
                #expect(written.contains(#""nodes":[{"refid":"T1","role":"chemical"},{"refid":"T3","role":"chemical"},{"refid":"T2","role":"disease"}]"#), "\(written)")
            }
        }
        // BC5CDR's own BioC spelling: infons relation, Chemical, Disease.
        let bc5cdr = try scratch.write("bc5cdr.xml", """
            <?xml version="1.0"?><collection><source>x</source><date>x</date><key>x</key><document><id>9</id>
            <passage><offset>0</offset><text>Lithium toxicity.</text></passage>
            <relation id="R0"><infon key="relation">CID</infon><infon key="Chemical">D008094</infon><infon key="Disease">D064420</infon></relation>
            </document></collection>
            """)
        #expect(Self.documents(try Self.readAll(.biocXML, bc5cdr)).first?.relations
            == [Relation(type: "CID", arguments: [.init(role: "chemical", concept: "D008094"), .init(role: "disease", concept: "D064420")])])

        let brat = scratch.path("brat")
        try Self.write([document], .brat, to: brat)
        let ann = try String(contentsOfFile: brat + "/33000001.ann", encoding: .utf8)
        #expect(ann.hasSuffix("R1\tCID chemical:T1 disease:T2\n#4\tAnnotatorNotes R1\tscore=0.8765 chemical=D014635 disease=D056486\n"), "\(ann)")

        let jsonl = scratch.path("out.jsonl")
        try Self.write([document], .jsonl, to: jsonl)
        #expect(try String(contentsOfFile: jsonl, encoding: .utf8).contains(
            #""relations":[{"type":"CID","arguments":[{"role":"chemical","concept":"D014635"},{"role":"disease","concept":"D056486"}],"score":0.8765},"#))
        // Without relations a line has no key (annotations are unchanged).
        document.relations = []
        try Self.write([document], .jsonl, to: jsonl)
        #expect(!(try String(contentsOfFile: jsonl, encoding: .utf8)).contains("relations"))
    }

    @Test func bratOffsetsSliceTheTextFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let twoPassages = Document(id: "pmid/1", passages: [
            Self.passage("Sickle cell 😀 anaemia", infons: ["type": "title"], [("Sickle cell 😀 anaemia", "disease")]),
            Self.passage("Hydroxyurea raised fetal\nhaemoglobin levels.", offset: 22, [("fetal\nhaemoglobin", "gene"), ("Hydroxyurea", "chemical")]),
        ])
        let backwards = Document(id: "PMID_1", passages: [Self.passage("Second part on gout.", offset: 50, [("gout", "disease")]), Self.passage("First: allopurinol.", [("allopurinol", "chemical")])])
        let hidden = Document(id: ".hidden", text: "Nothing here.")
        let directory = scratch.path("brat")
        try Self.write([twoPassages, backwards, hidden], .brat, to: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["PMID_1-2.ann", "PMID_1-2.txt", "_hidden.ann", "_hidden.txt", "pmid_1.ann", "pmid_1.txt"])
        var mentions: [String] = []
        for name in ["pmid_1", "PMID_1-2"] {
            let text = try String(contentsOfFile: "\(directory)/\(name).txt", encoding: .utf8)
            let scalars = Array(text.unicodeScalars)
            for line in try String(contentsOfFile: "\(directory)/\(name).ann", encoding: .utf8).split(separator: "\n") where line.hasPrefix("T") {
                let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
                let spans = columns[1].split(separator: " ", maxSplits: 1)[1].split(separator: ";").map { $0.split(separator: " ").compactMap { Int($0) } }
                let pieces = spans.map { String(String.UnicodeScalarView(scalars[$0[0]..<$0[1]])) }
                #expect(pieces.joined(separator: " ") == String(columns[2]), "\(name): \(line)")
                mentions.append(String(columns[2]))
            }
        }
        #expect(mentions == ["Sickle cell 😀 anaemia", "fetal haemoglobin", "Hydroxyurea", "gout", "allopurinol"])
        let ann = try String(contentsOfFile: "\(directory)/pmid_1.ann", encoding: .utf8)
        #expect(ann.contains("T2\tgene 41 46;47 58\tfetal haemoglobin\n#2\tAnnotatorNotes T2\tscore=0.9123 model=biotag-test 0.1\n"))
        #expect(try String(contentsOfFile: "\(directory)/pmid_1.txt", encoding: .utf8) == "Sickle cell 😀 anaemia\nHydroxyurea raised fetal\nhaemoglobin levels.")
    }

    @Test func malformedXMLNamesFileAndLine() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("bad.xml", "<?xml version=\"1.0\"?>\n<collection>\n<document><id>1</id>\n<passage><offset>0</offset><text>Salt & water</text></passage>\n</document></collection>\n")
        do {
            _ = try Self.readAll(.biocXML, path)
            Issue.record("expected a FormatError")
        } catch {
            let error = try #require(error as? FormatError)
            #expect(error.file == path && error.line == 4 && error.message.contains("name is expected"), "\(error)")
        }
        let truncated = try scratch.write("cut.xml", "<collection>\n<document><id>1</id>\n<passage><offset>0</offset>\n")
        #expect(throws: FormatError(file: truncated, line: 3, message: "malformed BioC XML at column 28: the file ends before all its elements are closed, or has content after the root element")) {
            try Self.readAll(.biocXML, truncated)
        }
        let empty = try scratch.write("empty.xml", "")
        #expect(throws: FormatError(file: empty, message: "expected a BioC <collection>, found no XML element")) { try Self.readAll(.biocXML, empty) }
    }

    /// libxml2 refuses a single chunk over 10 MB; the reader must feed it in pieces.
    @Test func biocXMLReadsCollectionsOverTenMegabytes() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let text = String(repeating: "Rituximab improved survival in follicular lymphoma. ", count: 80)
        let documents = (0..<3_000).map { Document(id: "L\($0)", text: text) }
        let path = scratch.path("large.xml")
        try Self.write(documents, .biocXML, to: path)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0 > 12_000_000)
        #expect(Self.documents(try Self.readAll(.biocXML, path)) == documents)
    }

    /// Characters XML 1.0 forbids become spaces, one for one; a carriage return survives.
    @Test func biocXMLKeepsOffsetsAroundForbiddenCharacters() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let document = Document(id: "c1", passages: [Self.passage("Bell\u{7}s palsy\r\nafter <b>zoster</b> & \"valacyclovir\"", [("palsy", "disease"), ("valacyclovir", "chemical")])])
        let path = scratch.path("control.xml")
        try Self.write([document], .biocXML, to: path)
        let read = try #require(Self.documents(try Self.readAll(.biocXML, path)).first)
        #expect(read.passages[0].text == "Bell s palsy\r\nafter <b>zoster</b> & \"valacyclovir\"")
        #expect(read.passages[0].entities.map(\.text) == ["palsy", "valacyclovir"])
        #expect(read.passages[0].entities.map(\.start) == document.passages[0].entities.map(\.start))
    }

    @Test func fileOutputAppearsOnlyAtFinish() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path("partial.jsonl")
        do {
            var writer = try makeWriter(format: .jsonl, destination: path)
            try writer.write(Document(id: "x", text: "Gentamicin ototoxicity."), model: Self.model)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty, "an unfinished temporary file is removed")
        for format in [OutputFormat.biocXML, .biocJSON] {
            let empty = scratch.path("empty.\(format.rawValue)")
            try Self.write([], format, to: empty)
            #expect(try Self.readAll(format == .biocXML ? .biocXML : .biocJSON, empty).isEmpty)
        }
    }
}
