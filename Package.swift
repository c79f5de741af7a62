// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "biotag",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "biotag", targets: ["biotag"]),
        .library(name: "Models", targets: ["Models"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SQLite with migrations, WAL and FTS5 for the annotation catalog.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // `biotag serve`: HTTP/1.1 on SwiftNIO with graceful shutdown (swift-service-lifecycle).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        // `/metrics` in Prometheus's text format; swift-log for the server's request lines.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // The shared catalog and work queue of `biotag worker` in PostgreSQL.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        // TLS to PostgreSQL (postgres-nio's own TLS library).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        // oneDNN's C API (Debian package libdnnl-dev) plus a few inline helpers.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // Attention and elementwise kernels, compiled per instruction set and chosen at load time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "Tensors",
            dependencies: ["CDNNL", "CKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(name: "Tokenization"),
        .target(name: "Models", dependencies: ["Tensors", "Tokenization"]),
        .target(
            name: "Training",
            dependencies: ["Annotation", "Linking", "Models", "Tensors", "Tokenization", "CKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        // Documents, the annotation pipeline and the JSONL / BioC / PubTator / BRAT codecs.
        .target(name: "Annotation", dependencies: ["Models", "Tensors", "Tokenization"]),
        // Entity linking: concept dictionaries, normalized exact lookup, abbreviations, character
        // n-gram candidates, composite mentions; compiled indexes used in place through mmap.
        .target(name: "Linking", dependencies: ["Annotation", "Models", "Tensors"]),
        // The annotation catalog behind one protocol: SQLite (GRDB, the embedded default) or
        // PostgreSQL (postgres-nio) with the work queue many machines share; search with facets.
        .target(name: "Catalog", dependencies: [
            "Annotation", "Models", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // `biotag serve`: dynamic batching of many clients' requests into the annotation pipeline.
        .target(name: "Server", dependencies: [
            "Annotation", "Linking", "Models", "Tensors", "Tokenization", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
        ]),
        // What every command shares: option groups (model, runtime, pipeline), errors, printing.
        .target(
            name: "CommandLineSupport",
            dependencies: ["Annotation", "Models", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // `biotag bench`: the harness that measures biotag against PyTorch and ONNX Runtime.
        .target(
            name: "Benchmarks",
            dependencies: [
                "Annotation", "CKernels", "CommandLineSupport", "Linking", "Models", "Tensors", "Tokenization", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The command line: argument parsing and printing only.
        .executableTarget(
            name: "biotag",
            dependencies: [
                "Annotation", "Benchmarks", "Catalog", "CKernels", "CommandLineSupport", "Linking", "Models", "Server", "Tensors", "Tokenization", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Locates ../shared/fixtures and the fetched model for the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Models", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensors", "Tokenization", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Annotation", "Training", "Models", "Tensors", "Tokenization", "TestSupport"]),
        .testTarget(name: "AnnotationTests", dependencies: ["Annotation", "Models", "Tokenization", "TestSupport"]),
        .testTarget(name: "LinkingTests", dependencies: ["Annotation", "Linking", "Models", "TestSupport"]),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog", "Annotation", "Models", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Annotation", "Linking", "Models", "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "biotagTests", dependencies: ["Annotation", "Catalog", "Models", "Tensors", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
