import CorralCore
import CorralPlatform
import Foundation
import Hummingbird

/// An error as the API answers it: a status and `{"error": "<message>", "code": "<code>"}`. The
/// code is `CorralError`'s where the error is one, else named for the status (`APIError.code(for:)`).
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    let code: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.code = Self.code(for: status)
        self.headers = headers
    }

    init(_ error: CorralError) {
        self.message = error.description
        self.code = error.code.identifier
        switch error.code {
        case .invalidInput: status = .badRequest
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .unavailable, .store: status = .serviceUnavailable
        default: status = .internalServerError
        }
    }

    /// Every code an error body may carry: `CorralError`'s, and those named for a status.
    static let codes = [
        "invalid_input", "unauthorized", "forbidden", "not_found", "method_not_allowed", "request_timeout", "conflict",
        "too_large", "unsupported_media_type", "too_many_requests", "headers_too_large", "unavailable", "spawn_failed", "store",
        "configuration", "system", "internal",
    ]

    /// The code of an error that is not a `CorralError`: what its status says.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400, 422: "invalid_input"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 408: "request_timeout"
        case 409: "conflict"
        case 413: "too_large"
        case 415: "unsupported_media_type"
        case 421: "misdirected_request"
        case 429: "too_many_requests"
        case 431: "headers_too_large"
        case 503: "unavailable"
        default: "internal"
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(["error": message, "code": code], status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// JSON responses, encoded the same way everywhere.
enum JSONBody {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response could not be encoded"}"#.utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func response(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }
}
