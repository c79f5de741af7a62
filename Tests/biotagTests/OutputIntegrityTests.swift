import Annotation
import Foundation
import Testing
import TestSupport

/// Every output is all or nothing: a run that fails, or is stopped, leaves each file and folder
/// output as it was before (no complete-looking partial output), and no temporary file behind.
@Suite struct OutputIntegrityTests {
    static let good = #"{"id": "a", "text": "Cisplatin nephrotoxicity in rats."}"# + "\n" + #"{"id": "b", "text": "BRCA1 carriers with breast cancer."}"# + "\n"
    static let truncatedBioC = "<?xml version=\"1.0\"?><collection><source>x</source><document><id>1</id><passage><offset>0</offset><text>Aspirin and"

    func temporaries(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmp") }
    }

    @Test(arguments: OutputFormat.allCases)
    func aFailedRunLeavesNoOutput(format: OutputFormat) throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.good.write(toFile: "\(directory)/ok.jsonl", atomically: true, encoding: .utf8)
        try Self.truncatedBioC.write(toFile: "\(directory)/truncated.xml", atomically: true, encoding: .utf8)
        let destination = "\(directory)/result.\(format.rawValue)"
        // The first input annotates fine, the second cannot be read as a whole.
        let failed = try AnnotateCommandTests.annotate(["\(directory)/ok.jsonl", "\(directory)/truncated.xml", "--to", format.rawValue, "-o", destination])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("truncated.xml"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: destination), "\(format): a failed run wrote \(destination)")
        #expect(try temporaries(in: directory).isEmpty)

        // An input that fails as a whole writes no empty collection either, and an earlier file stays.
        if format != .brat {
            try "earlier".write(toFile: destination, atomically: true, encoding: .utf8)
            let alone = try AnnotateCommandTests.annotate(["\(directory)/truncated.xml", "--to", format.rawValue, "-o", destination])
            #expect(alone.status != 0)
            #expect(try String(contentsOfFile: destination, encoding: .utf8) == "earlier")
        }
        // The same output, written completely once the inputs are good.
        let succeeded = try AnnotateCommandTests.annotate(["\(directory)/ok.jsonl", "--to", format.rawValue, "-o", destination])
        #expect(succeeded.status == 0, "\(succeeded.stderr)")
        #expect(FileManager.default.fileExists(atPath: destination))
    }

    /// `--to brat` into a folder that holds files is refused (no stale file beside new ones);
    /// `--overwrite` replaces it whole.
    @Test func bratRefusesAFullFolderUnlessOverwriting() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.good.write(toFile: "\(directory)/ok.jsonl", atomically: true, encoding: .utf8)
        let out = "\(directory)/brat"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "stale".write(toFile: "\(out)/old.ann", atomically: true, encoding: .utf8)
        let refused = try AnnotateCommandTests.annotate(["\(directory)/ok.jsonl", "--to", "brat", "-o", out])
        #expect(refused.status != 0 && refused.stderr.contains("not empty"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["old.ann"])
        let replaced = try AnnotateCommandTests.annotate(["\(directory)/ok.jsonl", "--to", "brat", "-o", out, "--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["a.ann", "a.txt", "b.ann", "b.txt"])
        #expect(try temporaries(in: directory).isEmpty)
    }

    /// A run stopped by SIGTERM removes its temporary output; one killed by SIGKILL leaves it,
    /// and the next run writing the same output removes it.
    @Test func stoppedRunsLeaveNoTemporaryFiles() throws {
        let directory = try AnnotateCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let destination = "\(directory)/out.jsonl"
        for signal in [SIGTERM, SIGKILL] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: BiotagCommand.executable)
            process.arguments = ["annotate", "--model", TestModels.twoHeads, "--quiet", "-", "-o", destination, "--chunk", "1"]
            let input = Pipe()
            process.standardInput = input
            try process.run()
            // One record annotated and written, then the run waits for more input.
            input.fileHandleForWriting.write(Data(Self.good.utf8))
            let deadline = Date().addingTimeInterval(60)
            while try temporaries(in: directory).isEmpty, Date() < deadline { usleep(20_000) }
            #expect(try !temporaries(in: directory).isEmpty, "no temporary output appeared")
            usleep(200_000)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            try? input.fileHandleForWriting.close()
            #expect(process.terminationStatus == (signal == SIGTERM ? 128 + SIGTERM : SIGKILL), "status \(process.terminationStatus)")
            #expect(!FileManager.default.fileExists(atPath: destination))
            #expect(try temporaries(in: directory).count == (signal == SIGTERM ? 0 : 1))
        }
        // The killed run's file, and one of an earlier version's naming, are cleaned by the next run.
        try "x".write(toFile: "\(directory)/.out.jsonl.\(UUID().uuidString).tmp", atomically: false, encoding: .utf8)
        let next = try AnnotateCommandTests.annotate(["-o", destination], stdin: Data(Self.good.utf8))
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try temporaries(in: directory).isEmpty)
        #expect(FileManager.default.fileExists(atPath: destination))
    }

    /// Every write is checked: rejects or output to a full device are an error, not silence.
    @Test func writesToAFullDeviceFail() throws {
        let input = Data((Self.good + "not json\n").utf8)
        let rejects = try AnnotateCommandTests.annotate(["--rejects", "/dev/full", "-o", "/dev/null"], stdin: input)
        #expect(rejects.status != 0)
        #expect(rejects.stderr.contains("/dev/full"), "\(rejects.stderr)")
        let output = try AnnotateCommandTests.annotate(["-o", "/dev/full"], stdin: input)
        #expect(output.status != 0)
        #expect(output.stderr.contains("/dev/full"), "\(output.stderr)")
        let type = try FileManager.default.attributesOfItem(atPath: "/dev/full")[.type] as? FileAttributeType
        #expect(type == .typeCharacterSpecial)
    }
}
