import Foundation

/// Reads a whole input: a file, or standard input for `-`.
func readWholeInput(path: String) throws(FormatError) -> Data {
    if path == "-" {
        do { return try FileHandle.standardInput.readToEnd() ?? Data() } catch {
            throw FormatError(file: standardStreamName, message: "cannot read standard input: \(error.localizedDescription)")
        }
    }
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
        throw FormatError(file: path, message: "cannot read the file: \(error.localizedDescription)")
    }
}

/// Splits a byte stream into lines (LF; a CR before it is dropped) without repairing bad UTF-8,
/// counting lines from 1. Reads in 1 MiB chunks and scans each byte once, so a line of many
/// megabytes costs linear time.
public struct ByteLineReader {
    public enum Line: Equatable {
        case text(String)
        case invalidUTF8
    }

    /// The input's name in locations: the path, or `stdin`.
    public let name: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    /// The first byte not yet returned.
    private var start = 0
    /// Bytes before this index (from `start`) are known to hold no line feed.
    private var scanned = 0
    private var finished = false
    /// The number of the line last returned.
    public private(set) var lineNumber = 0

    /// - Parameter path: a file, or `-` for standard input.
    public init(path: String) throws(FormatError) {
        name = displayName(of: path)
        if path == "-" {
            handle = FileHandle.standardInput
        } else if let opened = FileHandle(forReadingAtPath: path) {
            handle = opened
        } else {
            throw FormatError(file: path, message: "cannot open the file for reading")
        }
    }

    /// The next line without its terminator, or nil at the end of the input.
    public mutating func next() throws(FormatError) -> Line? {
        while true {
            let newline: Int? = buffer.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress, scanned < bytes.count,
                      let found = memchr(base + scanned, 0x0A, bytes.count - scanned) else { return nil }
                return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            }
            if let newline {
                let line = buffer[start..<newline]
                start = newline + 1
                scanned = start
                return decode(line)
            }
            scanned = buffer.count
            if finished {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return decode(line)
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                scanned -= start
                start = 0
            }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw FormatError(file: name, line: lineNumber + 1, message: "cannot read: \(error.localizedDescription)")
            }
            if let chunk, !chunk.isEmpty { buffer.append(contentsOf: chunk) } else { finished = true }
        }
    }

    private mutating func decode(_ bytes: ArraySlice<UInt8>) -> Line {
        lineNumber += 1
        let content = bytes.last == 0x0D ? bytes.dropLast() : bytes
        guard let text = String(validating: content, as: UTF8.self) else { return .invalidUTF8 }
        return .text(text)
    }
}

/// A buffered output to standard output (`-`, streamed) or to a file. A regular file is written
/// under a hidden temporary name beside it and renamed into place by `finish()`, so an
/// interrupted run never leaves a complete-looking partial file; a device or pipe such as
/// `/dev/null` is written directly.
final class OutputSink {
    /// The destination's name in errors.
    let name: String
    /// Nil for an output kept in memory (`init(memory:)`).
    private let handle: FileHandle?
    private let paths: (temporary: String, final: String)?
    private var buffer: [UInt8] = []
    private var finished = false

    /// An output kept in memory: everything written stays in `contents`.
    init(memory name: String) {
        self.name = name
        handle = nil
        paths = nil
    }

    /// What an in-memory output holds.
    var contents: [UInt8] { buffer }

    init(destination: String) throws(FormatError) {
        if destination == "-" {
            name = "stdout"
            handle = FileHandle.standardOutput
            paths = nil
            return
        }
        name = destination
        var info = stat()
        if stat(destination, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            // A device, pipe or socket (/dev/null, a FIFO): written directly, never replaced.
            guard let opened = FileHandle(forWritingAtPath: destination) else {
                throw FormatError(file: destination, message: "cannot open for writing")
            }
            handle = opened
            paths = nil
            return
        }
        TemporaryOutputs.removeAbandoned(beside: destination)
        let temporary = TemporaryOutputs.create(beside: destination)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            TemporaryOutputs.release(temporary)
            throw FormatError(file: destination, message: "cannot create a file in \(URL(fileURLWithPath: destination).deletingLastPathComponent().path): \(reason)")
        }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        paths = (temporary, destination)
    }

    func write(_ text: String) throws(FormatError) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func flush() throws(FormatError) {
        guard let handle, !buffer.isEmpty else { return }
        do { try handle.write(contentsOf: buffer) } catch {
            throw FormatError(file: name, message: "cannot write: \(error.localizedDescription)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, and for a file closes it and renames it into place. Later calls do nothing.
    func finish() throws(FormatError) {
        guard !finished else { return }
        try flush()
        finished = true
        guard let paths, let handle else { return }
        do { try handle.close() } catch {
            throw FormatError(file: name, message: "cannot close: \(error.localizedDescription)")
        }
        defer { TemporaryOutputs.release(paths.temporary) }
        guard rename(paths.temporary, paths.final) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(paths.temporary)
            throw FormatError(file: name, message: "cannot move the finished output into place: \(reason)")
        }
    }

    /// Gives the output up: a file's temporary copy is removed and the destination left as it
    /// was; standard output, a device or a pipe gets what was buffered (a BioC collection stays
    /// unclosed, so no reader takes it for complete). Later calls do nothing.
    func abandon() {
        guard !finished else { return }
        finished = true
        guard let paths else {
            try? flush()
            return
        }
        try? handle?.close()
        unlink(paths.temporary)
        TemporaryOutputs.release(paths.temporary)
    }

    /// Unfinished: abandoned.
    deinit { abandon() }
}

/// Writes `text` to `path` through a temporary file renamed into place.
func writeFileAtomically(_ text: String, to path: String) throws(FormatError) {
    let sink = try OutputSink(destination: path)
    try sink.write(text)
    try sink.finish()
}

extension String {
    /// The string with each of `scalars` replaced by `replacement`, one scalar for one, so
    /// offsets into it stay valid.
    func replacingScalars(_ scalars: Set<Unicode.Scalar>, with replacement: Unicode.Scalar) -> String {
        guard unicodeScalars.contains(where: scalars.contains) else { return self }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: unicodeScalars.lazy.map { scalars.contains($0) ? replacement : $0 })
        return String(out)
    }
}
