import Hummingbird

/// `--api-key`: the `/v1/` routes answer 401 unless the request carries
/// `Authorization: Bearer KEY` (or `X-API-Key: KEY`). The page, the OpenAPI document, `/health`,
/// `/ready` and `/metrics` stay open, as probes and scrapers expect.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let offered = request.headers[.authorization].flatMap { value in
            value.hasPrefix("Bearer ") ? String(value.dropFirst("Bearer ".count)) : nil
        } ?? request.headers.first { $0.name.canonicalName == "x-api-key" }?.value
        guard let offered, Self.equal(Array(offered.utf8), key) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"], message: "a valid API key is required (Authorization: Bearer KEY)")
        }
        return try await next(request, context)
    }

    /// Compares in time that depends on the lengths only, never on where the bytes differ.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0, y = index < b.count ? b[index] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }
}
