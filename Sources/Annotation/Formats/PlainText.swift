import Foundation

/// Reads a whole file as one document of one passage at offset 0, its id the file name without
/// extension (`stdin` for `-`). The text is kept exactly (line ends, a byte-order mark).
struct PlainTextReader: DocumentReader {
    private var item: ReadItem?

    init(path: String) throws(FormatError) {
        let data = try readWholeInput(path: path)
        let id = path == "-" ? standardStreamName : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let location = displayName(of: path)
        if let text = String(validating: data, as: UTF8.self) {
            if text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
                item = .rejected(Reject(id: id, location: location, reason: "empty text"))
            } else {
                item = .document(Document(id: id, text: text))
            }
        } else {
            item = .rejected(Reject(id: id, location: location, reason: "not valid UTF-8"))
        }
    }

    mutating func next() throws(FormatError) -> ReadItem? {
        defer { item = nil }
        return item
    }
}
