import Annotation
import Foundation
import Linking
import Testing
import TestSupport

/// The compiled index: a file answers as the in-memory build does, damage is refused, the
/// manifest records what a directory holds; composite mentions, binomials and usage priors.
@Suite struct LinkerIndexTests {
    static let dictionary = LinkingTests.dictionary

    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-linker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aFileAnswersAsTheInMemoryBuild() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = try LinkerIndexBuilder.build(Self.dictionary)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/disease.linker"))
        let mapped = Linker(index: try LinkerIndex(path: "\(directory)/disease.linker"))
        let memory = try Linker(dictionary: Self.dictionary)
        #expect(mapped.index.conceptCount == 6 && mapped.index.byteCount == bytes.count)
        for mention in ["breast cancer", "colorectal carcinomas", "Duchene muscular dystrophy", "NIDDM", "xyz", ""] {
            #expect(mapped.link(mention, top: 5) == memory.link(mention, top: 5), "\(mention)")
        }
        let record = mapped.index.concept(0)
        #expect(record.id == "MESH:D003924" && record.name == "Diabetes Mellitus, Type 2" && record.alternateIds == ["OMIM:125853"])
    }

    @Test func damagedIndexesAreRefused() throws {
        let bytes = try LinkerIndexBuilder.build(Self.dictionary)
        #expect(throws: LinkerIndexError.self) { try LinkerIndex(bytes: Array(bytes.dropLast(8))) }
        #expect(throws: LinkerIndexError.self) { try LinkerIndex(bytes: Array("not an index at all, just some text of some length....................".utf8)) }
        #expect(throws: LinkerIndexError.self) { try LinkerIndex(bytes: []) }
        var wrongVersion = bytes
        wrongVersion[8] = 99
        #expect(throws: LinkerIndexError.self) { try LinkerIndex(bytes: wrongVersion) }
        #expect(throws: LinkerIndexError.self) { try LinkerIndex(path: "/nonexistent/disease.linker") }
    }

    @Test func compositeMentionsGiveOneConceptPerPart() throws {
        let dictionary = try ConceptDictionary.parse("""
            MESH:D001943\tBreast Neoplasms\tbreast cancer\t
            MESH:D010051\tOvarian Neoplasms\tovarian cancer\t
            MESH:D015179\tColorectal Neoplasms\tcolorectal carcinoma\t
            MESH:D018256\tAdenomatous Polyps\tcolorectal adenomas\t
            MESH:D003922\tDiabetes Mellitus, Type 1\ttype 1 diabetes\t
            MESH:D003924\tDiabetes Mellitus, Type 2\ttype 2 diabetes\t
            """, file: "d.tsv")
        let linker = try Linker(dictionary: dictionary)
        func ids(_ mention: String) -> [String] { linker.link(mention, top: 3).compactMap(\.first?.id) }
        #expect(ids("breast and ovarian cancer") == ["MESH:D001943", "MESH:D010051"])
        #expect(ids("breast and/or ovarian cancers") == ["MESH:D001943", "MESH:D010051"])
        #expect(ids("type 1 and type 2 diabetes") == ["MESH:D003922", "MESH:D003924"])
        #expect(ids("colorectal adenomas and carcinoma") == ["MESH:D018256", "MESH:D015179"])
        #expect(ids("breast cancer") == ["MESH:D001943"])
        // Not every part names a concept: the whole mention is linked as one.
        #expect(linker.link("breast and lung cancer", top: 3).count <= 1)
        #expect(try Linker(dictionary: dictionary, stages: [.exact, .ngram]).link("breast and ovarian cancer", top: 3).count == 1)
    }

    @Test func abbreviatedBinomialsAndCorpusUsage() throws {
        let dictionary = try ConceptDictionary.parse("""
            NCBITaxon:287\tPseudomonas aeruginosa\t\tspecies
            NCBITaxon:9605\tHomo\thuman\tgenus
            NCBITaxon:9606\tHomo sapiens\thuman\tspecies
            """, file: "species.tsv")
        let context = Abbreviations(text: "Pseudomonas aeruginosa grew. Later P. aeruginosa died.")
        #expect(context.expansion(of: "P. aeruginosa") == "Pseudomonas aeruginosa")
        #expect(context.expansion(of: "X. aeruginosa") == nil)
        let linker = try Linker(dictionary: dictionary)
        #expect(linker.link("P. aeruginosa", abbreviations: context, top: 1).first?.first?.stage == .abbreviation)
        #expect(linker.link("human", top: 1).first?.first?.id == "NCBITaxon:9605")  // dictionary order
        let corpus = LinkingCorpus(texts: ["1": "human cells"], mentions: [GoldMention(document: "1", start: 0, end: 5, text: "human", type: "", ids: ["NCBITaxon:9606"])])
        let trained = try Linker(dictionary: dictionary.addingSynonyms(from: [corpus]))
        #expect(trained.link("Humans", top: 1).first?.first?.id == "NCBITaxon:9606")  // what the corpus used
    }

    /// A rank in the 4th column breaks ties between concepts a term names equally.
    @Test func aPreferredExtraBreaksTies() throws {
        let dictionary = try ConceptDictionary.parse("""
            NCBITaxon:9821\tSuidae\tpigs\tfamily
            NCBITaxon:9823\tSus scrofa\tpig\tspecies
            """, file: "species.tsv")
        func top(_ preferring: String?) throws -> String? {
            Linker(index: try LinkerIndex(bytes: LinkerIndexBuilder.build(dictionary, preferring: preferring))).link("pig", top: 1).first?.first?.id
        }
        #expect(try top(nil) == "NCBITaxon:9821")
        #expect(try top("species") == "NCBITaxon:9823")
    }

    @Test func manifestsRecordAndReplaceLinkers() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try LinkerManifest.read(directory: directory).linkers.isEmpty)
        let entry = LinkerManifestEntry(task: "disease", file: "disease.linker", dictionaries: ["d.tsv"], trainingCorpora: [], exactOnly: [], concepts: 6, bytes: 1, licence: "test")
        try LinkerManifest().replacing(entry).write(directory: directory)
        try Data(try LinkerIndexBuilder.build(Self.dictionary)).write(to: URL(fileURLWithPath: "\(directory)/disease.linker"))
        var second = entry
        second.licence = "replaced"
        let manifest = try LinkerManifest.read(directory: directory).replacing(second)
        #expect(manifest.linkers == [second])
        let set = try LinkerSet.load(directories: [directory])
        #expect(set.linkers.keys.sorted() == ["disease"])
        try "{".write(toFile: "\(directory)/linkers.json", atomically: true, encoding: .utf8)
        #expect(throws: LinkerIndexError.self) { try LinkerSet.load(directories: [directory]) }
    }

    @Test func standoffCorporaReadTheirSplitAndTexts() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: "\(directory)/txt", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/split", withIntermediateDirectories: true)
        try "Mice and humans.".write(toFile: "\(directory)/txt/a.txt", atomically: true, encoding: .utf8)
        try "a\n".write(toFile: "\(directory)/split/test.txt", atomically: true, encoding: .utf8)
        try "b\n".write(toFile: "\(directory)/split/train.txt", atomically: true, encoding: .utf8)
        try "#entity id\tdocument\tstart\tend\ttext\tcomment\nspecies:ncbi:10090\ta\t0\t4\tMice\t\nspecies:ncbi:9606\tb\t0\t5\thuman\t\n"
            .write(toFile: "\(directory)/tags.tsv", atomically: true, encoding: .utf8)
        let test = try LinkingCorpus.load(specification: "\(directory)/tags.tsv:test")
        #expect(test.mentions.map(\.ids) == [["NCBITaxon:10090"]] && test.texts["a"] == "Mice and humans.")
        #expect(throws: DictionaryError.self) { try LinkingCorpus.load(specification: "\(directory)/tags.tsv") }
        #expect(throws: DictionaryError.self) { try LinkingCorpus.load(specification: "\(directory)/tags.tsv:nosuchsplit") }
        try "docid\tstart\tend\ttext\tconcept_id\na\t0\tx\tMice\tNCBITaxon:10088\n".write(toFile: "\(directory)/bad.tsv", atomically: true, encoding: .utf8)
        #expect(throws: DictionaryError(file: "\(directory)/bad.tsv", line: 2, reason: "expected id, document, start, end, text or document, start, end, text, id")) {
            try LinkingCorpus.load(specification: "\(directory)/bad.tsv:test")
        }
    }
}

/// The linking step of `annotate`: concepts per head, thresholds, composite mentions, one entity
/// for a span two heads link alike.
@Suite struct DocumentLinkerTests {
    @Test func linksMergesAndThresholds() throws {
        let cells = try Linker(dictionary: try ConceptDictionary.parse("CL:0000182\thepatocyte\tliver cell\t\n", file: "cl.tsv"))
        let diseases = try Linker(dictionary: LinkingTests.dictionary)
        let linker = DocumentLinker(linkers: LinkerSet(linkers: ["cell": cells, "cell_type": cells, "disease": diseases]), minimumScore: 0.9)
        let text = "Hepatocytes, breast cancer and mammary carcinomas, breast and colorectal cancer."
        func entity(_ type: String, _ mention: String, score: Double = 0.9) throws -> Entity {
            let range = try #require(text.range(of: mention))
            let start = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: range.lowerBound)
            return Entity(type: type, start: start, end: start + mention.unicodeScalars.count, text: mention, score: score)
        }
        let document = Document(id: "1", passages: [Passage(text: text, entities: [
            try entity("cell", "Hepatocytes", score: 0.8), try entity("cell_type", "Hepatocytes", score: 0.95), try entity("disease", "breast cancer"),
            try entity("disease", "mammary carcinomas"), try entity("disease", "breast and colorectal cancer"), try entity("species", "Hepatocytes"),
        ])])
        let linked = linker.link([document])[0].passages[0].entities
        #expect(linked.count == 5)  // the two cell heads' "Hepatocytes" is one entity
        #expect(linked[0].type == "cell_type" && linked[0].otherTypes == ["cell"] && linked[0].concepts.map(\.id) == ["CL:0000182"])
        #expect(linked[1].concepts == [ConceptReference(id: "MESH:D001943", name: "Breast Neoplasms", score: 1)])
        // A near match ("mammary carcinomas" ~ "mammary carcinoma, human") is reported only at or
        // above the threshold.
        #expect(linked[2].concepts.allSatisfy { $0.score >= 0.9 })
        let lenient = DocumentLinker(linkers: linker.linkers, minimumScore: 0).link([document])[0].passages[0].entities
        #expect(lenient[2].concepts.map(\.id) == ["MESH:D001943"])
        #expect(linked[3].concepts.map(\.id) == ["MESH:D001943", "MESH:D015179"])
        #expect(linked[4].type == "species" && linked[4].concepts.isEmpty)  // no species linker

        // An entity the overlap rule gave several types is linked by each type's linker in
        // turn: the first that finds a concept leads, the others follow.
        let merged = Document(id: "2", passages: [Passage(text: text, entities: [
            Entity(type: "species", start: 0, end: 11, text: "Hepatocytes", score: 0.9, otherTypes: ["disease", "cell_type"]),
            Entity(type: "species", start: 13, end: 26, text: "breast cancer", score: 0.9, otherTypes: ["gene"]),
        ])])
        let joined = linker.link([merged])[0].passages[0].entities
        #expect(joined.map(\.type) == ["cell_type", "species"] && joined.map(\.otherTypes) == [["species", "disease"], ["gene"]])
        #expect(joined[0].concepts.map(\.id) == ["CL:0000182"] && joined[1].concepts.isEmpty)
    }
}

/// The dense stage's pieces: unit embeddings that do not depend on the batch, and the hybrid
/// score, which with a heavy 3-gram weight ranks as the 3-gram stage does.
@Suite struct DenseLinkingTests {
    @Test func embeddingsAreUnitVectorsIndependentOfTheBatch() throws {
        let encoder = try TermEncoder(directory: TestModels.twoHeads, workers: 2)
        defer { encoder.shutdown() }
        let width = encoder.width
        let texts = ["breast cancer", "colorectal carcinoma of the rectum and colon", "DMD", "x"]
        let together = try encoder.embed(texts)
        for (index, text) in texts.enumerated() {
            let row = Array(together[(index * width)..<((index + 1) * width)])
            #expect(abs(row.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "\(text)")
            let alone = try encoder.embed([text])
            #expect(zip(row, alone).allSatisfy { abs($0 - $1) < 1e-4 }, "\(text)")
        }
    }

    @Test func aHeavyNGramWeightRanksAsTheNGramStage() throws {
        let encoder = try TermEncoder(directory: TestModels.twoHeads)
        defer { encoder.shutdown() }
        let dictionary = LinkingTests.dictionary
        let linker = try Linker(dictionary: dictionary)
        let text = "colorectal carcinomas; mammary carcinoma; Duchene muscular dystrophy; breast cancer; cystic fibroses"
        let mentions = ["colorectal carcinomas": "MESH:D015179", "mammary carcinoma": "MESH:D001943", "Duchene muscular dystrophy": "MESH:D020388",
                        "breast cancer": "MESH:D001943", "cystic fibroses": "MESH:D003550"].map { mention, id in
            GoldMention(document: "1", start: 0, end: mention.count, text: mention, type: "Disease", ids: [id])
        }
        let corpus = LinkingCorpus(texts: ["1": text], mentions: mentions)
        let rows = try DenseEvaluation.measure(linker, dictionary: dictionary, encoder: encoder, corpus: corpus, weights: [0, 1000])
        #expect(rows.map(\.weight) == [0, 1000])
        #expect(abs(rows[1].atOne - LinkingAccuracy.measure(linker, on: corpus).atOne) < 1e-9)
        #expect(rows[0].atOne >= 0.2)  // the exact match is right whatever the encoder
    }
}

/// The dense stage in a linker directory and in annotation: what `DocumentLinker` finds for a
/// chunk at once is what the linker finds for each mention alone.
@Suite struct DenseStageTests {
    @Test func batchedDenseAnswersEqualSingleOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-dense-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dictionary = LinkingTests.dictionary
        try Data(try LinkerIndexBuilder.build(dictionary)).write(to: URL(fileURLWithPath: "\(directory)/disease.linker"))
        let encoder = try TermEncoder(directory: TestModels.twoHeads)
        try DenseTerms(dictionary: dictionary, encoder: encoder).write(to: "\(directory)/disease.dense")
        encoder.shutdown()
        var entry = LinkerManifestEntry(task: "disease", file: "disease.linker", dictionaries: ["d.tsv"], trainingCorpora: [], exactOnly: [], concepts: 6, bytes: 1, licence: "test")
        entry.dense = "disease.dense"
        entry.denseEncoder = TestModels.twoHeads
        try LinkerManifest(linkers: [entry]).write(directory: directory)
        let set = try LinkerSet.load(directories: [directory])
        let linker = try #require(set.linkers["disease"])
        #expect(linker.usesDense)
        let mentions = ["breast cancer", "colorectal carcinomas", "Duchene muscular dystrophy", "sugar sickness", "mammary tumours"]
        let text = mentions.joined(separator: "; ")
        var entities: [Entity] = []
        for mention in mentions {
            let range = text.range(of: mention)!
            let start = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: range.lowerBound)
            entities.append(Entity(type: "disease", start: start, end: start + mention.unicodeScalars.count, text: mention))
        }
        let linked = DocumentLinker(linkers: set, minimumScore: 0, denseMinimumScore: -1).link([Document(id: "1", passages: [Passage(text: text, entities: entities)])])
        for entity in linked[0].passages[0].entities {
            let alone = linker.link(entity.text, top: 1).compactMap(\.first)
            #expect(entity.concepts.map(\.id) == alone.map(\.id), "\(entity.text)")
            #expect(zip(entity.concepts, alone).allSatisfy { abs($0.score - Double($1.score)) < 1e-5 }, "\(entity.text)")
        }
        #expect(linked[0].passages[0].entities[0].concepts.first?.id == "MESH:D001943")  // exact before dense
        #expect(linker.link("colorectal carcinomas", top: 1).first?.first?.stage == .dense)
        // The dense vectors are part of the linkers' identity: relink notices another encoder.
        #expect(set.fingerprint() != LinkerSet(linkers: ["disease": Linker(index: linker.index)]).fingerprint())
        #expect(set.fingerprint() == (try LinkerSet.load(directories: [directory])).fingerprint())
        // A damaged vectors file is refused.
        try Data("BTDENSE1".utf8).write(to: URL(fileURLWithPath: "\(directory)/disease.dense"))
        #expect(throws: LinkerIndexError.self) { try LinkerSet.load(directories: [directory]) }
    }
}
