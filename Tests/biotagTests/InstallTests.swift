import Foundation
import Testing
import TestSupport

/// `make install`'s layout: the binary in `<prefix>/bin` finds the default model in
/// `<prefix>/share/biotag/models` from any working directory, with no `$BIOTAG_HOME` copy.
@Suite struct InstallTests {
    @Test func installedBinaryFindsTheDefaultModelFromAnyFolder() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("biotag-install-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let manager = FileManager.default
        try manager.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: prefix + "/share/biotag/models", withIntermediateDirectories: true)
        try manager.copyItem(atPath: BiotagCommand.executable, toPath: prefix + "/bin/biotag")
        // A link stands for the copied model: the lookup is what is tested, not the copy.
        try manager.createSymbolicLink(atPath: prefix + "/share/biotag/models/bioner-minilm-8",
                                       withDestinationPath: TestPaths.repository.appendingPathComponent("models/bioner-minilm-8").path)
        let elsewhere = prefix + "/work"
        try manager.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let input = Data(#"{"id": "a", "text": "Cisplatin caused acute kidney injury in rats."}"#.utf8)
        let emptyHome = ["BIOTAG_HOME": prefix + "/no-home"]

        let installed = try BiotagCommand.run(["annotate", "--quiet"], stdin: input, environment: emptyHome, workingDirectory: elsewhere,
                                              executable: prefix + "/bin/biotag")
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(installed.output.contains(#""type":"chemical""#), "\(installed.output)")

        // `--model fast` finds the installed fast model the same way; it links with the default's linkers.
        try manager.createSymbolicLink(atPath: prefix + "/share/biotag/models/bioner-minilm-8-fast",
                                       withDestinationPath: TestPaths.repository.appendingPathComponent("models/bioner-minilm-8-fast").path)
        let fast = try BiotagCommand.run(["annotate", "--quiet", "--model", "fast", "--link"], stdin: input, environment: emptyHome, workingDirectory: elsewhere,
                                         executable: prefix + "/bin/biotag")
        #expect(fast.status == 0, "\(fast.stderr)")
        #expect(fast.output.contains(#""model":{"name":"bioner-minilm-8-fast""#) && fast.output.contains(#""concept":{"id":"MESH:"#), "\(fast.output)")
        try manager.removeItem(atPath: prefix + "/share/biotag/models/bioner-minilm-8-fast")
        let noFast = try BiotagCommand.run(["annotate", "--quiet", "--model", "fast"], stdin: input, environment: emptyHome, workingDirectory: elsewhere,
                                           executable: prefix + "/bin/biotag")
        #expect(noFast.status != 0 && noFast.stderr.contains("--model fast: no bioner-minilm-8-fast (looked in models/bioner-minilm-8-fast, "), "\(noFast.stderr)")

        // Without the installed model, the message says where it looked and what to do.
        try manager.removeItem(atPath: prefix + "/share/biotag/models/bioner-minilm-8")
        let missing = try BiotagCommand.run(["annotate", "--quiet"], stdin: input, environment: emptyHome, workingDirectory: elsewhere,
                                            executable: prefix + "/bin/biotag")
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("share/biotag/models/bioner-minilm-8") && missing.stderr.contains("make install"), "\(missing.stderr)")
    }
}
