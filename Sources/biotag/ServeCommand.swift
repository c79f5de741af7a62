import Annotation
import ArgumentParser
import CommandLineSupport
import Foundation
import Hummingbird
import Logging
import Models
import Server

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Annotate over HTTP: POST /v1/annotate, requests of many clients batched together.",
        discussion: """
            Routes: GET / (a web page), POST /v1/annotate ({"texts": [...]} or {"records": [...], "text_fields": [...]}, \
            optional "tasks" and "link"; the answer holds each document as `annotate --to jsonl` writes it), POST /v1/tokenize, \
            POST /v1/link, GET /v1/info, GET /health, GET /ready, GET /metrics (Prometheus), GET /openapi.json. Requests arriving \
            within --max-wait-ms of each other are annotated in one batch of at most --max-batch-tokens wordpieces; a \
            request finds the queue full (--max-queue-tokens) and gets 429 at once. SIGINT or SIGTERM stops taking \
            requests, answers those accepted within --grace seconds, and exits.
            """)

    @Option(help: "Model directory (default: the default model).")
    var model: String?

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: ArgumentHelp("Most wordpieces annotated in one batch (all clients together).", discussion: "Bigger batches use the cores better and keep each request waiting longer."))
    var maxBatchTokens = 16_384

    @Option(help: ArgumentHelp("How long the first request of a batch waits for others, in milliseconds.", discussion: "0 answers a lone client soonest; a few milliseconds let concurrent clients share batches."))
    var maxWaitMs = 5

    @Option(help: ArgumentHelp("While other lanes are busy, the least a lane takes of the queue, in wordpieces.", discussion: "A lane takes its share of what is waiting (queued ÷ lanes), at least this much, rather than all of it, so a burst is spread over the lanes as they come free. Lower favours the latency of a busy server, higher its batches."))
    var laneShareTokens = 128

    @Option(help: ArgumentHelp("Most wordpieces waiting; requests beyond it are refused with 429 and Retry-After.", discussion: "Keep it below --timeout × the server's tokens per second (biotag_annotated_tokens_total's rate), so that a request accepted under overload is answered in time."))
    var maxQueueTokens = 65_536

    @Option(help: "Largest request body in bytes (413 above).")
    var payloadLimit = 2 * 1024 * 1024

    @Option(help: "Most texts or records in one request (413 above).")
    var maxClientTexts = 256

    @Option(help: "Seconds a request may wait for a worker before 503 (0: no limit).")
    var timeout: Double = 30

    @Option(help: "Seconds to finish accepted requests after SIGTERM.")
    var grace: Double = 30

    @Option(help: ArgumentHelp("Require this key on the /v1/ routes (Authorization: Bearer KEY); default: the environment's BIOTAG_API_KEY, else none.", valueName: "key"))
    var apiKey: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info (one line per request), notice, warning, error.", valueName: "level"))
    var logLevel = "info"

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var linking: EntityLinkingOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard maxBatchTokens >= 16 else { throw ValidationError("--max-batch-tokens must be at least 16") }
        guard laneShareTokens >= 1 else { throw ValidationError("--lane-share-tokens must be at least 1") }
        guard maxWaitMs >= 0, maxWaitMs <= 10_000 else { throw ValidationError("--max-wait-ms must be between 0 and 10000") }
        guard maxQueueTokens >= maxBatchTokens else { throw ValidationError("--max-queue-tokens must be at least --max-batch-tokens") }
        guard payloadLimit >= 1024 else { throw ValidationError("--payload-limit must be at least 1024 bytes") }
        guard maxClientTexts >= 1 else { throw ValidationError("--max-client-texts must be at least 1") }
        guard timeout >= 0, grace >= 0 else { throw ValidationError("--timeout and --grace must not be negative") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \(logLevel)") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() async throws {
        let loaded: MultiTaskModel
        do { loaded = try MultiTaskModel(directory: try modelDirectory(model)) } catch let error as ModelLoadError { throw CommandError(error.description) }
        // One batching lane per worker, each with its own pipeline on the one loaded model: a lane's
        // batch runs while another lane tokenizes, links or answers (docs/SERVICE.md).
        let (threads, workers) = runtime.resolved(threads: 1, workers: 2)
        var annotators: [Annotator] = []
        do {
            for _ in 0..<workers { annotators.append(try Annotator(model: loaded, settings: pipeline.settings(tasks: nil), threads: threads, workers: 1)) }
        } catch {
            for annotator in annotators { annotator.shutdown() }
            throw CommandError(error.description)
        }
        let annotator = annotators[0]
        let linker = try linking.documentLinker(model: loaded.directory, workers: 1, tasks: annotator.tasks)
        var batching = BatchingSettings()
        batching.maxBatchTokens = maxBatchTokens
        batching.maxWait = .milliseconds(maxWaitMs)
        batching.laneShareTokens = laneShareTokens
        batching.maxQueueTokens = maxQueueTokens
        batching.timeout = timeout > 0 ? .milliseconds(Int(timeout * 1000)) : nil
        var limits = ServerLimits()
        limits.payloadBytes = payloadLimit
        limits.texts = maxClientTexts
        let key = apiKey ?? ProcessInfo.processInfo.environment["BIOTAG_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let service = AnnotationService(annotators: annotators, linker: linker, batching: batching, limits: limits, apiKey: key, warmUp: true)
        var logger = Logger(label: "biotag.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let app = Application(router: service.router(), configuration: .init(address: .hostname(host, port: port), serverName: "biotag"), logger: logger)
        printError("biotag serve: \(annotator.identity.name) \(annotator.identity.version), \(annotator.tasks.count) heads, on http://\(host):\(port)\(key == nil ? "" : " (API key required on /v1/)")")
        // runService stops the server on SIGINT/SIGTERM once in-flight connections are done.
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        service.stop(grace: .milliseconds(Int(grace * 1000)))
        for annotator in annotators { annotator.shutdown() }
    }
}
