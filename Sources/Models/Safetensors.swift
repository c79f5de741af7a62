import Foundation
import Tensors

/// Element types of the safetensors format that biotag reads and writes.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i8 = "I8", i32 = "I32", i64 = "I64"

    public var byteSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i8: 1
        case .i64: 8
        }
    }
}

/// Why a safetensors file could not be read, naming the file and, where there is one, the tensor.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case truncated(file: String, reason: String)
    case badHeader(file: String, reason: String)
    case badTensor(file: String, tensor: String, reason: String)
    case overlapping(file: String, first: String, second: String)
    case missingTensor(file: String, tensor: String)
    case wrongType(file: String, tensor: String, expected: String, found: DType)
    case wrongShape(file: String, tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): \(reason)"
        case let .truncated(file, reason): "\(file): truncated safetensors file: \(reason)"
        case let .badHeader(file, reason): "\(file): invalid safetensors header: \(reason)"
        case let .badTensor(file, tensor, reason): "\(file): tensor '\(tensor)': \(reason)"
        case let .overlapping(file, first, second): "\(file): tensors '\(first)' and '\(second)' overlap in the data section"
        case let .missingTensor(file, tensor): "\(file): no tensor named '\(tensor)'"
        case let .wrongType(file, tensor, expected, found): "\(file): tensor '\(tensor)' has dtype \(found.rawValue), expected \(expected)"
        case let .wrongShape(file, tensor, expected, found): "\(file): tensor '\(tensor)' has shape \(found), expected \(expected)"
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section (after the 8-byte length and the header).
    public let dataRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed safetensors header, validated against the size of its data section.
public struct SafetensorsHeader: Sendable {
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int

    /// Parses and validates the start of a safetensors file.
    ///
    /// Checks: 8-byte length prefix present, header inside the file and valid UTF-8 JSON object,
    /// known dtypes, non-negative shapes, offsets consistent with shape × dtype size, inside the
    /// data section, no two tensors overlapping. Never traps on any input.
    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(SafetensorsError) -> SafetensorsHeader {
        guard bytes.count >= 8 else {
            throw .truncated(file: file, reason: "\(bytes.count) bytes, fewer than the 8-byte header length")
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(bytes.count - 8) else {
            throw .truncated(file: file, reason: "header claims \(length) bytes, only \(bytes.count - 8) follow")
        }
        guard length <= 100_000_000 else { throw .badHeader(file: file, reason: "header of \(length) bytes exceeds 100 MB") }
        let headerLength = Int(length)
        let headerData = Data(bytes[8..<(8 + headerLength)])
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: headerData)
        } catch {
            throw .badHeader(file: file, reason: "not valid JSON")
        }
        guard let object = json.objectValue else { throw .badHeader(file: file, reason: "not a JSON object") }
        let dataSize = bytes.count - 8 - headerLength
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let entries = value.objectValue else {
                    throw .badHeader(file: file, reason: "__metadata__ is not an object")
                }
                for (key, item) in entries {
                    guard let text = item.stringValue else {
                        throw .badHeader(file: file, reason: "__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            tensors[name] = try parseEntry(name: name, value: value, dataSize: dataSize, file: file)
        }
        let ordered = tensors.sorted { ($0.value.dataRange.lowerBound, $0.key) < ($1.value.dataRange.lowerBound, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where previous.value.dataRange.upperBound > next.value.dataRange.lowerBound && !previous.value.dataRange.isEmpty && !next.value.dataRange.isEmpty {
            throw .overlapping(file: file, first: previous.key, second: next.key)
        }
        return SafetensorsHeader(tensors: tensors, metadata: metadata, dataStart: 8 + headerLength)
    }

    private static func parseEntry(name: String, value: JSONValue, dataSize: Int, file: String) throws(SafetensorsError) -> TensorInfo {
        guard let entry = value.objectValue else { throw .badTensor(file: file, tensor: name, reason: "entry is not an object") }
        guard let dtypeName = entry["dtype"]?.stringValue else { throw .badTensor(file: file, tensor: name, reason: "missing dtype") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .badTensor(file: file, tensor: name, reason: "unsupported dtype '\(dtypeName)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let shapeValues = entry["shape"]?.arrayValue else { throw .badTensor(file: file, tensor: name, reason: "missing shape") }
        var shape: [Int] = []
        var elements = 1
        for dimension in shapeValues {
            guard let number = dimension.intValue, number >= 0 else {
                throw .badTensor(file: file, tensor: name, reason: "shape is not a list of non-negative integers")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: number)
            guard !overflow, product <= Int(Int32.max) * 64 else { throw .badTensor(file: file, tensor: name, reason: "shape \(shape + [number]) is too large") }
            elements = product
            shape.append(number)
        }
        guard let offsets = entry["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue else {
            throw .badTensor(file: file, tensor: name, reason: "data_offsets must be two integers")
        }
        guard begin >= 0, begin <= end else { throw .badTensor(file: file, tensor: name, reason: "data_offsets [\(begin), \(end)] are not an ordered range") }
        guard end <= dataSize else {
            throw .truncated(file: file, reason: "tensor '\(name)' ends at byte \(end) of a data section of \(dataSize) bytes")
        }
        guard end - begin == elements * dtype.byteSize else {
            throw .badTensor(file: file, tensor: name, reason: "shape \(shape) × \(dtype.byteSize) bytes = \(elements * dtype.byteSize) bytes, but data_offsets span \(end - begin)")
        }
        return TensorInfo(dtype: dtype, shape: shape, dataRange: begin..<end)
    }
}

/// A safetensors file mapped into memory. Tensors are read in place (no copy) where their
/// dtype and alignment allow.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let header: SafetensorsHeader
    private let mapping: MappedFile

    public init(path: String) throws(SafetensorsError) {
        self.path = path
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw .unreadable(file: path, reason: error.description)
        }
        header = try SafetensorsHeader.parse(mapping.bytes, file: path)
    }

    public var names: [String] { header.tensors.keys.sorted() }

    public func info(_ name: String) throws(SafetensorsError) -> TensorInfo {
        guard let info = header.tensors[name] else { throw .missingTensor(file: path, tensor: name) }
        return info
    }

    /// The raw bytes of a tensor.
    public func rawBytes(_ name: String) throws(SafetensorsError) -> UnsafeRawBufferPointer {
        let info = try info(name)
        let start = header.dataStart + info.dataRange.lowerBound
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.dataRange.count)])
    }

    /// A tensor as fp32, converting F16 and BF16; borrowed from the mapping when it is F32 and
    /// aligned, copied otherwise.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws(SafetensorsError) -> FloatTensor {
        let info = try info(name)
        if let expected, expected != info.shape {
            throw .wrongShape(file: path, tensor: name, expected: expected, found: info.shape)
        }
        let raw = try rawBytes(name)
        let count = info.elementCount
        switch info.dtype {
        case .f32:
            if count == 0 { return FloatTensor(shape: info.shape, buffer: FloatBuffer(count: 0)) }
            if Int(bitPattern: raw.baseAddress!) % MemoryLayout<Float>.alignment == 0 {
                return FloatTensor(shape: info.shape, pointer: raw.baseAddress!.assumingMemoryBound(to: Float.self), owner: mapping)
            }
            let buffer = FloatBuffer(count: count)
            UnsafeMutableRawPointer(buffer.pointer).copyMemory(from: raw.baseAddress!, byteCount: count * 4)
            return FloatTensor(shape: info.shape, buffer: buffer)
        case .f16:
            let buffer = FloatBuffer(count: count)
            for i in 0..<count { buffer.pointer[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            return FloatTensor(shape: info.shape, buffer: buffer)
        case .bf16:
            let buffer = FloatBuffer(count: count)
            for i in 0..<count { buffer.pointer[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            return FloatTensor(shape: info.shape, buffer: buffer)
        case .i8 where header.tensors[name + Self.scaleSuffix] != nil && !info.shape.isEmpty:
            // Stored with fp32 or fp16 scales per row ([rows]) or per group of consecutive values within a
            // row ([rows, groups]): value = int8 · scale of its group.
            let rows = info.shape[0]
            let rowSize = rows == 0 ? 0 : count / rows
            let (scaleShape, groups) = try int8ScaleLayout(of: name)
            let scales = try floats(name + Self.scaleSuffix, shape: scaleShape)
            let groupSize = rowSize / groups
            let buffer = FloatBuffer(count: count)
            for i in 0..<count {
                buffer.pointer[i] = Float(raw.loadUnaligned(fromByteOffset: i, as: Int8.self)) * scales.pointer[i / groupSize]
            }
            return FloatTensor(shape: info.shape, buffer: buffer)
        default:
            throw .wrongType(file: path, tensor: name, expected: "F32, F16, BF16, or I8 with a '\(Self.scaleSuffix)' tensor", found: info.dtype)
        }
    }

    /// The per-row scales of an I8-stored weight `w` are the F32 tensor `w` + this suffix.
    public static let scaleSuffix = ".scale"

    /// The shape of an I8-stored weight's scales (`[rows]`, or `[rows, groups]` for groups of
    /// consecutive values of a row) and the groups per row, checked against the weight.
    public func int8ScaleLayout(of name: String) throws(SafetensorsError) -> (shape: [Int], groups: Int) {
        let info = try info(name)
        let rows = info.shape.first ?? 0
        let rowSize = rows == 0 ? 0 : info.elementCount / rows
        let shape = try self.info(name + Self.scaleSuffix).shape
        let groups = shape.count == 2 ? shape[1] : 1
        guard shape.first == rows, shape.count <= 2, groups > 0, rowSize % groups == 0 else {
            throw .wrongShape(file: path, tensor: name + Self.scaleSuffix, expected: [rows, groups], found: shape)
        }
        return (shape, groups)
    }

    /// An integer tensor (I8, I32, I64) widened to `Int`.
    public func integers(_ name: String) throws(SafetensorsError) -> [Int] {
        let info = try info(name)
        let raw = try rawBytes(name)
        let count = info.elementCount
        switch info.dtype {
        case .i8: return (0..<count).map { Int(raw.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
        case .i32: return (0..<count).map { Int(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i64: return (0..<count).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        default: throw .wrongType(file: path, tensor: name, expected: "I8, I32 or I64", found: info.dtype)
        }
    }
}

/// A read-only fp32 tensor: shape plus a pointer whose memory `owner` keeps alive.
public struct FloatTensor: @unchecked Sendable {
    public let shape: [Int]
    public let pointer: UnsafePointer<Float>
    public let owner: AnyObject

    public init(shape: [Int], pointer: UnsafePointer<Float>, owner: AnyObject) {
        self.shape = shape; self.pointer = pointer; self.owner = owner
    }

    public init(shape: [Int], buffer: FloatBuffer) {
        self.init(shape: shape, pointer: UnsafePointer(buffer.pointer), owner: buffer)
    }

    public var count: Int { shape.reduce(1, *) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// A tensor to be written: name, dtype, shape and its little-endian bytes.
public struct TensorRecord: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: Data

    public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    public init(name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        self.init(name: name, dtype: .f32, shape: shape, bytes: Data(buffer: floats))
    }

    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    public init(name: String, shape: [Int], int32: [Int32]) {
        self.init(name: name, dtype: .i32, shape: shape, bytes: int32.withUnsafeBufferPointer { Data(buffer: $0) })
    }
}

public enum SafetensorsWriter {
    /// Serializes tensors (sorted by name, data packed in that order) with an optional
    /// `__metadata__`; the header is padded with spaces to a multiple of 8 bytes.
    public static func serialize(_ tensors: [TensorRecord], metadata: [String: String] = [:]) throws(SafetensorsError) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let sorted = tensors.sorted { $0.name < $1.name }
        for tensor in sorted {
            let expected = tensor.shape.reduce(1, *) * tensor.dtype.byteSize
            guard expected == tensor.bytes.count else {
                throw .badTensor(file: "<writing>", tensor: tensor.name, reason: "shape \(tensor.shape) needs \(expected) bytes, got \(tensor.bytes.count)")
            }
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + expected]] as [String: Any]
            offset += expected
        }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        } catch {
            throw .badHeader(file: "<writing>", reason: "cannot encode header")
        }
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for tensor in sorted { out.append(tensor.bytes) }
        return out
    }

    /// Writes atomically: to a temporary file beside `path`, then renamed over it.
    public static func write(_ tensors: [TensorRecord], metadata: [String: String] = [:], to path: String) throws(SafetensorsError) {
        let data = try serialize(tensors, metadata: metadata)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .unreadable(file: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

extension SafetensorsFile {
    /// The first tensor (in name order) holding a NaN or an infinity, with the element's index:
    /// floating-point tensors are checked by their bits (an exponent of all ones), integer ones
    /// cannot hold either. A model with such a weight computes garbage without failing.
    public func firstNonFinite() -> (tensor: String, index: Int)? {
        for name in names {
            guard let info = header.tensors[name], let bytes = try? rawBytes(name) else { continue }
            let index: Int?
            switch info.dtype {
            case .f32: index = Self.firstAllOnes(bytes, as: UInt32.self, exponent: 0x7F80_0000)
            case .f16: index = Self.firstAllOnes(bytes, as: UInt16.self, exponent: 0x7C00)
            case .bf16: index = Self.firstAllOnes(bytes, as: UInt16.self, exponent: 0x7F80)
            case .i8, .i32, .i64: index = nil
            }
            if let index { return (name, index) }
        }
        return nil
    }

    private static func firstAllOnes<Bits: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, as: Bits.Type, exponent: Bits) -> Int? {
        let size = MemoryLayout<Bits>.size
        for i in 0..<(bytes.count / size) where bytes.loadUnaligned(fromByteOffset: i * size, as: Bits.self) & exponent == exponent {
            return i
        }
        return nil
    }
}
