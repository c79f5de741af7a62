import Foundation

/// Writes brat standoff: for each document `<name>.txt` with its text and `<name>.ann` with
/// `T<n><TAB><type> <start> <end><TAB><text>` and `#<n><TAB>AnnotatorNotes T<n><TAB>score=<s> model=<name> <version>`
/// lines (plus ` types=a,b` for an entity several heads found), and for a linked entity one
/// normalization line per concept, `N<n><TAB>Reference T<n> MESH:D001943<TAB>Breast Neoplasms`;
/// offsets in Unicode scalars of the `.txt` file.
///
/// The `.txt` text places each passage at its own offset, a gap before it filled with line
/// feeds (title + abstract at title length + 1 become two lines). When passages overlap or go
/// backwards, they are instead joined with one line feed each, in order, and their entities
/// shifted to match. An entity containing line feeds is written as fragments split at them
/// (`start end;start end`), its text the fragments joined by a space (brat's rule); types have
/// white space replaced by `_`. File names come from the id: `/`, `\` and control characters
/// become `_`, a leading `.` becomes `_`, long names are cut to 200 bytes, and a name already
/// used in this run (ignoring case) gets `-2`, `-3`, ...
///
/// All or nothing: the files are written into a temporary folder beside the destination
/// (`.NAME.PID.UUID.tmp`), which `finish()` renames into place; a run that fails or is stopped
/// leaves the destination as it was. A destination that exists must be empty, unless `overwrite`
/// (then it is replaced whole at the end, so no file of an earlier run stays beside the new ones).
struct BratWriter: DocumentWriter {
    /// The destination folder.
    let destination: String
    /// Where the files are written until `finish()`.
    let directory: String
    let overwrite: Bool
    private var used: Set<String> = []
    private var done = false

    init(directory destination: String, overwrite: Bool = false) throws(FormatError) {
        guard destination != "-" else { throw FormatError(file: destination, message: "brat output needs a directory, not standard output") }
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: destination, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FormatError(file: destination, message: "exists and is not a directory") }
            let entries = (try? manager.contentsOfDirectory(atPath: destination)) ?? []
            guard entries.isEmpty || overwrite else {
                throw FormatError(file: destination, message: "the directory is not empty (\(entries.count) entries): give an empty or new one, or --overwrite to replace it whole")
            }
        }
        let trimmed = URL(fileURLWithPath: destination).standardizedFileURL.path
        let parent = (trimmed as NSString).deletingLastPathComponent
        do { try manager.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw FormatError(file: destination, message: "cannot create the output directory: \(error.localizedDescription)")
        }
        TemporaryOutputs.removeAbandoned(beside: trimmed)
        let staging = TemporaryOutputs.create(beside: trimmed)
        do { try manager.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            TemporaryOutputs.release(staging)
            throw FormatError(file: destination, message: "cannot create a folder in \(parent): \(error.localizedDescription)")
        }
        self.destination = trimmed
        self.directory = staging
        self.overwrite = overwrite
    }

    mutating func write(_ document: Document, model: ModelIdentity) throws(FormatError) {
        let name = uniqueName(for: document.id)
        let (text, offsets) = Self.layout(document.passages)
        var annotations = ""
        var number = 0, normalizations = 0
        /// Each written entity's number and concept ids, for the relations' arguments.
        var mentions: [(number: Int, concepts: [String])] = []
        for (passage, base) in zip(document.passages, offsets) {
            for entity in passage.entities {
                let fragments = Self.fragments(of: entity, at: base + entity.start)
                guard !fragments.isEmpty else { continue }
                number += 1
                mentions.append((number, entity.concepts.map(\.id)))
                let spans = fragments.map { "\($0.start) \($0.end)" }.joined(separator: ";")
                let mention = fragments.map(\.text).joined(separator: " ").replacingScalars(["\t", "\r"], with: " ")
                annotations += "T\(number)\t\(entity.type.replacingScalars([" ", "\t", "\n", "\r"], with: "_")) \(spans)\t\(mention)\n"
                let annotator = "\(model.name) \(model.version)".replacingScalars(["\t", "\n", "\r"], with: " ")
                annotations += "#\(number)\tAnnotatorNotes T\(number)\tscore=\(roundedScore(entity.score)) model=\(annotator)"
                    + (entity.otherTypes.isEmpty ? "" : " types=" + ([entity.type] + entity.otherTypes).joined(separator: ",")) + "\n"
                for concept in entity.concepts {
                    normalizations += 1
                    let reference = concept.id.replacingScalars([" ", "\t", "\n", "\r"], with: "_")
                    annotations += "N\(normalizations)\tReference T\(number) \(reference)\t\(concept.name.replacingScalars(["\t", "\n", "\r"], with: " "))\n"
                }
            }
        }
        // A relation between concepts as an `R` line between the first mention of each (brat
        // relates text-bound annotations), the concepts and score in its note; a relation with a
        // concept that no entity mentions has no place in brat and is left out.
        var notes = number, relations = 0
        for relation in document.relations {
            let arguments = relation.arguments.map { argument in
                mentions.first { $0.concepts.contains { Relation.sameConcept($0, argument.concept) } }.map { "\(argument.role.replacingScalars([" ", ":", "\t", "\n", "\r"], with: "_")):T\($0.number)" }
            }
            guard arguments.allSatisfy({ $0 != nil }) else { continue }
            relations += 1; notes += 1
            annotations += "R\(relations)\t\(relation.type.replacingScalars([" ", "\t", "\n", "\r"], with: "_")) \(arguments.map { $0! }.joined(separator: " "))\n"
            let concepts = relation.arguments.map { "\($0.role)=\($0.concept)" }.joined(separator: " ").replacingScalars(["\t", "\n", "\r"], with: " ")
            annotations += "#\(notes)\tAnnotatorNotes R\(relations)\tscore=\(roundedScore(relation.score)) \(concepts)\n"
        }
        let base = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        try writeFileAtomically(text, to: base + ".txt")
        try writeFileAtomically(annotations, to: base + ".ann")
    }

    /// Moves the finished folder into place (replacing an empty one, or any with `overwrite`).
    mutating func finish() throws(FormatError) {
        guard !done else { return }
        done = true
        defer { TemporaryOutputs.release(directory) }
        let manager = FileManager.default
        if manager.fileExists(atPath: destination) {
            do { try manager.removeItem(atPath: destination) } catch {
                try? manager.removeItem(atPath: directory)
                throw FormatError(file: destination, message: "cannot replace the directory: \(error.localizedDescription)")
            }
        }
        guard rename(directory, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            try? manager.removeItem(atPath: directory)
            throw FormatError(file: destination, message: "cannot move the finished files into place: \(reason)")
        }
    }

    mutating func abandon() {
        guard !done else { return }
        done = true
        try? FileManager.default.removeItem(atPath: directory)
        TemporaryOutputs.release(directory)
    }

    /// The document text and each passage's offset in it (Unicode scalars).
    static func layout(_ passages: [Passage]) -> (text: String, offsets: [Int]) {
        var offsets = passages.map(\.offset)
        var end = 0
        for passage in passages {
            guard passage.offset >= end else {
                var next = 0
                offsets = passages.map { passage in defer { next += passage.length + 1 }; return next }
                break
            }
            end = passage.offset + passage.length
        }
        var text = String.UnicodeScalarView()
        var length = 0
        for (passage, offset) in zip(passages, offsets) {
            text.append(contentsOf: repeatElement("\n", count: offset - length))
            text.append(contentsOf: passage.text.unicodeScalars)
            length = offset + passage.length
        }
        return (String(text), offsets)
    }

    /// The entity's non-empty pieces between line feeds, as document offsets and text.
    static func fragments(of entity: Entity, at start: Int) -> [(start: Int, end: Int, text: String)] {
        var fragments: [(start: Int, end: Int, text: String)] = []
        var piece = String.UnicodeScalarView()
        var pieceStart = start
        for (index, scalar) in entity.text.unicodeScalars.enumerated() {
            if scalar == "\n" {
                if !piece.isEmpty { fragments.append((pieceStart, start + index, String(piece))) }
                piece = String.UnicodeScalarView()
                pieceStart = start + index + 1
            } else {
                piece.append(scalar)
            }
        }
        if !piece.isEmpty { fragments.append((pieceStart, pieceStart + piece.count, String(piece))) }
        return fragments
    }

    /// A file name for `id`, unique (ignoring case) among this writer's documents.
    private mutating func uniqueName(for id: String) -> String {
        let base = Self.safeName(id)
        var name = base
        var suffix = 2
        while used.contains(name.lowercased()) {
            name = "\(base)-\(suffix)"
            suffix += 1
        }
        used.insert(name.lowercased())
        return name
    }

    static func safeName(_ id: String) -> String {
        var name = String.UnicodeScalarView()
        var bytes = 0
        for scalar in id.unicodeScalars {
            let safe: Unicode.Scalar = scalar == "/" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F ? "_" : scalar
            bytes += UTF8.width(safe)
            if bytes > 200 { break }
            name.append(name.isEmpty && safe == "." ? "_" : safe)
        }
        return name.isEmpty ? "_" : String(name)
    }
}
