import Foundation

/// Runs the `biotag` executable built beside the test bundle.
public enum BiotagCommand {
    public struct Result {
        public let status: Int32
        public let stdout: Data
        public let stderr: String
        public var output: String { String(decoding: stdout, as: UTF8.self) }
    }

    public static var executable: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("biotag").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return TestPaths.repository.appendingPathComponent(".build/release/biotag").path
    }

    public static func run(_ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:], workingDirectory: String? = nil,
                           executable: String = BiotagCommand.executable) throws -> Result {
        let process = Process()
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let writer = Thread {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        nonisolated(unsafe) var errorData = Data()
        let errorReader = Thread { errorData = error.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorReader.isFinished { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: outputData, stderr: String(decoding: errorData, as: UTF8.self))
    }
}
