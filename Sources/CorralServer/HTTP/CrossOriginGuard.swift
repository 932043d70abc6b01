import CorralCore
import HTTPTypes
import Hummingbird

/// Keeps web pages from driving the API through the user's browser. A page from another origin
/// can make the browser send a request to corral (a form, `fetch` with `mode: no-cors`, an image)
/// but cannot make it leave out `Origin` and `Sec-Fetch-Site`, nor send a JSON content type
/// without a CORS preflight, which corral never answers. So on `/api/*`:
/// - `Sec-Fetch-Site: cross-site`, or an `Origin` other than the request's own
///   `scheme://Host`, is refused (403);
/// - a POST with a body must say `Content-Type: application/json` (415); one without a body
///   (`curl -XPOST`) needs none.
/// curl, the CLI and other programs send neither header; the dashboard's requests are
/// same-origin.
struct CrossOriginGuard: RouterMiddleware {
    typealias Context = CorralRequestContext

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// `https` when corral serves TLS (the request head does not say).
    let scheme: String
    /// Media types a POST body may have.
    var contentTypes: Set<String> = ["application/json"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try check(request)
        return try await next(request, context)
    }

    func check(_ request: Request) throws(APIError) {
        if request.headers[Self.secFetchSite]?.lowercased() == "cross-site" {
            throw APIError(.forbidden, "cross-site request refused: corral's API does not answer web pages of other sites")
        }
        if let origin = request.headers[.origin] {
            let own = "\(scheme)://\(request.head.authority ?? "")"
            guard origin.lowercased() == own.lowercased() else {
                throw APIError(.forbidden, "cross-origin request refused: Origin \(origin) is not \(own)")
            }
        }
        guard request.method == .post, Self.hasBody(request) else { return }
        let mediaType = request.headers[.contentType].map { type in
            type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        }
        guard let mediaType, contentTypes.contains(mediaType) else {
            throw APIError(
                .unsupportedMediaType,
                "a request body must be sent with Content-Type: \(contentTypes.sorted().joined(separator: " or ")), not \(mediaType ?? "none")"
            )
        }
    }

    private static func hasBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        return request.headers[.contentLength].flatMap { Int($0) }.map { $0 > 0 } ?? false
    }
}
