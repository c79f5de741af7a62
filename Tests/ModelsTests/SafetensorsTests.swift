import Foundation
import Testing
import Models

@Suite struct SafetensorsTests {
    static func parse(_ data: Data) throws -> SafetensorsHeader {
        try data.withUnsafeBytes { bytes in try SafetensorsHeader.parse(bytes, file: "test.safetensors") }
    }

    /// A file with a header written by hand (lengths and offsets as given).
    static func file(header: String, data: Int) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        out.append(Data(count: data))
        return out
    }

    static func temporaryPath() -> String {
        NSTemporaryDirectory() + "biotag-\(UUID().uuidString).safetensors"
    }

    @Test func roundTripsEveryDType() throws {
        let records = [
            TensorRecord(name: "f32", shape: [2, 3], floats: [1, 2, 3, 4, 5, -6.5]),
            TensorRecord(name: "f16", dtype: .f16, shape: [2], bytes: Data([0x00, 0x3C, 0x00, 0xC0])),   // 1, -2
            TensorRecord(name: "bf16", dtype: .bf16, shape: [2], bytes: Data([0x80, 0x3F, 0x40, 0x40])),  // 1, 3
            TensorRecord(name: "i8", dtype: .i8, shape: [3], bytes: Data([0x01, 0xFF, 0x7F])),
            TensorRecord(name: "i32", shape: [2], int32: [7, -9]),
            TensorRecord(name: "i64", dtype: .i64, shape: [1], bytes: withUnsafeBytes(of: Int64(-3).littleEndian) { Data($0) }),
            TensorRecord(name: "empty", shape: [0, 4], floats: []),
        ]
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafetensorsWriter.write(records, metadata: ["format": "pt"], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.header.metadata == ["format": "pt"])
        #expect(file.names == ["bf16", "empty", "f16", "f32", "i32", "i64", "i8"])
        #expect(try file.floats("f32").array == [1, 2, 3, 4, 5, -6.5])
        #expect(try file.floats("f32").shape == [2, 3])
        #expect(try file.floats("f16").array == [1, -2])
        #expect(try file.floats("bf16").array == [1, 3])
        #expect(try file.integers("i8") == [1, -1, 127])
        #expect(try file.integers("i32") == [7, -9])
        #expect(try file.integers("i64") == [-3])
        #expect(try file.floats("empty").count == 0)
        #expect(file.header.dataStart % 8 == 0)
    }

    @Test func typedErrorsNameFileAndTensor() throws {
        #expect(throws: SafetensorsError.truncated(file: "test.safetensors", reason: "3 bytes, fewer than the 8-byte header length")) {
            try Self.parse(Data([1, 2, 3]))
        }
        // The length prefix claims more header than the file holds.
        var lying = Self.file(header: "{}", data: 0)
        lying.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1000).littleEndian) { Data($0) })
        #expect(throws: SafetensorsError.self) { try Self.parse(lying) }
        // Offsets past the end of the data.
        let pastEnd = Self.file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8)
        #expect(throws: SafetensorsError.truncated(file: "test.safetensors", reason: "tensor 'w' ends at byte 16 of a data section of 8 bytes")) {
            try Self.parse(pastEnd)
        }
        // Offsets inconsistent with the shape.
        let wrongSize = Self.file(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: 16)
        #expect(throws: SafetensorsError.badTensor(file: "test.safetensors", tensor: "w", reason: "shape [3] × 4 bytes = 12 bytes, but data_offsets span 16")) {
            try Self.parse(wrongSize)
        }
        let overlap = Self.file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12)
        #expect(throws: SafetensorsError.overlapping(file: "test.safetensors", first: "a", second: "b")) { try Self.parse(overlap) }
        let unknown = Self.file(header: #"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: 8)
        #expect(throws: SafetensorsError.self) { try Self.parse(unknown) }
        let fraction = Self.file(header: #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: 4)
        #expect(throws: SafetensorsError.self) { try Self.parse(fraction) }
        let negative = Self.file(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4)
        #expect(throws: SafetensorsError.self) { try Self.parse(negative) }
        #expect(throws: SafetensorsError.badHeader(file: "test.safetensors", reason: "not valid JSON")) {
            try Self.parse(Self.file(header: "{\"w\": ", data: 0))
        }

        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafetensorsWriter.write([TensorRecord(name: "x", shape: [1], floats: [1])], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(throws: SafetensorsError.missingTensor(file: path, tensor: "y")) { try file.floats("y") }
        #expect(throws: SafetensorsError.wrongShape(file: path, tensor: "x", expected: [2], found: [1])) { try file.floats("x", shape: [2]) }
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: path + ".missing") }
        // A truncated copy of a real file.
        let truncatedPath = path + ".cut"
        defer { try? FileManager.default.removeItem(atPath: truncatedPath) }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 2).write(to: URL(fileURLWithPath: truncatedPath))
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: truncatedPath) }
    }

    /// Thousands of random and mutated headers: the parser returns or throws, never traps.
    @Test func headerParserSurvivesFuzzing() throws {
        var generator = SystemRandomNumberGenerator()
        let valid = try SafetensorsWriter.serialize([
            TensorRecord(name: "a", shape: [2, 2], floats: [1, 2, 3, 4]),
            TensorRecord(name: "b", shape: [3], int32: [1, 2, 3]),
        ], metadata: ["k": "v"])
        let fragments = ["{", "}", "[", "]", ",", ":", "\"dtype\"", "\"F32\"", "\"I64\"", "\"shape\"", "\"data_offsets\"",
                         "0", "-1", "1e30", "18446744073709551615", "null", "true", "\"\\u0000\"", "1.5", "\"__metadata__\""]
        var parsed = 0, rejected = 0
        for iteration in 0..<4000 {
            var data: Data
            switch iteration % 4 {
            case 0:  // random bytes
                data = Data((0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            case 1:  // a valid file with bytes flipped
                data = valid
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    data[Int.random(in: 0..<data.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            case 2:  // a valid file cut short
                data = valid.prefix(Int.random(in: 0..<valid.count, using: &generator))
            default:  // a header assembled from JSON fragments
                let header = (0..<Int.random(in: 1...24, using: &generator)).map { _ in fragments.randomElement(using: &generator)! }.joined()
                data = Self.file(header: header, data: Int.random(in: 0..<32, using: &generator))
            }
            do { _ = try Self.parse(data); parsed += 1 } catch { rejected += 1 }
        }
        #expect(parsed + rejected == 4000)
        #expect(rejected > 3000)
    }
}
