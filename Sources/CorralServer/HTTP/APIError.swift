import CorralCore
import CorralPlatform
import Foundation
import Hummingbird

/// An error as the API answers it: a status and `{"error": "<message>"}`.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    init(_ error: CorralError) {
        self.message = error.description
        switch error.code {
        case .invalidInput: status = .badRequest
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .unavailable, .store: status = .serviceUnavailable
        default: status = .internalServerError
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(["error": message], status: status)
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
