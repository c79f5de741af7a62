import Foundation
import Hummingbird
import Logging
import Prometheus

/// What `GET /metrics` reports, in Prometheus's text format: requests by route, method and
/// status with their latency, and the batcher's queue, batches and tokens. Each service has its
/// own registry (no process-wide `MetricsSystem` bootstrap), so two services in one process, as
/// in the tests, never mix their counts.
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let queueTokens: Gauge
    private let queueRequests: Gauge
    private let batchTokens: ValueHistogram
    private let batchRequests: ValueHistogram
    private let batchSeconds: DurationHistogram
    private let annotatedTokens: Counter
    private let annotatedRequests: Counter

    /// Latency buckets from 1 ms to 30 s (a lone sentence to a queue at its timeout).
    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000].map { .milliseconds($0) }

    public init() {
        func name(_ metric: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "biotag", metricName: metric, unitName: unit, helpText: help)
        }
        queueTokens = registry.makeGauge(descriptor: name("queue", "tokens", "Wordpieces waiting for the pipeline."))
        queueRequests = registry.makeGauge(descriptor: name("queue", "requests", "Requests waiting for the pipeline."))
        batchTokens = registry.makeValueHistogram(
            descriptor: name("batch", "tokens", "Wordpieces per pipeline call (all clients' requests together)."),
            buckets: [64, 256, 1024, 2048, 4096, 8192, 16_384, 32_768, 65_536])
        batchRequests = registry.makeValueHistogram(
            descriptor: name("batch", "requests", "Requests per pipeline call."), buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        batchSeconds = registry.makeDurationHistogram(
            descriptor: name("batch_duration", "seconds", "Time of one pipeline call (annotation and linking)."), buckets: Self.latencyBuckets)
        annotatedTokens = registry.makeCounter(
            descriptor: name("annotated", "tokens_total", "Wordpieces annotated; tokens per second is its rate()."))
        annotatedRequests = registry.makeCounter(descriptor: name("annotated", "requests_total", "Requests annotated."))
    }

    /// After each pipeline call.
    func batch(requests: Int, tokens: Int, seconds: Double) {
        batchTokens.record(Double(tokens))
        batchRequests.record(Double(requests))
        batchSeconds.record(.nanoseconds(Int64(seconds * 1e9)))
        annotatedTokens.increment(by: Int64(tokens))
        annotatedRequests.increment(by: Int64(requests))
    }

    /// Before each scrape.
    func queue(tokens: Int, requests: Int) {
        queueTokens.set(Double(tokens))
        queueRequests.set(Double(requests))
    }

    /// One request's route (its pattern, not its path, so the series stay few), status and time.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "biotag", metricName: "http_requests", unitName: "total", helpText: "Requests answered, by route, method and status."),
            labels: labels
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "biotag", metricName: "http_request_duration", unitName: "seconds", helpText: "Time from request to response, by route."),
            labels: [("route", route), ("method", method)], buckets: Self.latencyBuckets
        ).record(duration)
    }

    /// The exposition text.
    public func exposition() -> String { registry.emitToString() }
}

/// Records every request: its metrics, and one structured log line at info (method, path,
/// route, status, milliseconds; the logger adds the request id Hummingbird gives it).
struct RequestRecorder<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let status: HTTPResponse.Status
        do {
            let response = try await next(request, context)
            status = response.status
            record(request, context: context, status: status, started: started)
            return response
        } catch {
            record(request, context: context, status: (error as? any HTTPResponseError)?.status ?? .internalServerError, started: started)
            throw error
        }
    }

    private func record(_ request: Request, context: Context, status: HTTPResponse.Status, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unmatched"
        metrics.request(route: route, method: request.method.rawValue, status: status.code, duration: elapsed)
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "route": .string(route),
            "status": .stringConvertible(status.code), "ms": .string(String(format: "%.2f", milliseconds)),
        ])
    }
}
