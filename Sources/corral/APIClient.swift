import AsyncHTTPClient
import CorralSecurity
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP client for the CLI's short life. A refused connection fails at once instead of being
/// retried until the connect timeout: "corral is not running" must not take seconds to say.
private let httpClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.timeout = .init(connect: .seconds(5))
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
}()

/// The CLI's view of corral's HTTP API.
struct APIClient {
    let baseURL: String
    let token: String?

    /// What went wrong, with the exit code scripts can rely on.
    enum Failure: Error, CustomStringConvertible {
        /// The server answered `path` with an error (exit 1).
        case refused(status: Int, message: String, path: String)
        /// corral could not be reached (exit 3): why, in a few words.
        case unreachable(reason: String)
        /// The server's answer to `request` (`GET /api/sessions`) is not the shape this CLI reads
        /// (exit 1): `problem` names the field.
        case unreadable(request: String, problem: String)
        /// The request's body cannot be written as JSON (exit 2): nothing was sent.
        case unsendable(request: String)

        var exitCode: Int32 {
            switch self {
            case .refused, .unreadable: 1
            case .unsendable: 2
            case .unreachable: 3
            }
        }

        var description: String {
            switch self {
            case .refused(let status, let message, let path):
                let hint =
                    switch status {
                    case 401: " (set CORRAL_TOKEN or --token-file)"
                    // A session's route: no such session. Starting one, an unknown agent, whose
                    // message names the configured profiles already.
                    case 404 where Self.isSessionPath(path): " (`corral sessions` lists the live sessions)"
                    default: ""
                    }
                return "\(message) [HTTP \(status)]\(hint)"
            case .unreachable(let reason):
                // It quotes the URL (a password, a `?token=` in it) and the client's error (which
                // may quote a header it refused, the token in it).
                return "\(Redactor().text(reason)). Is `corral serve` running? Point --url or CORRAL_URL at it."
            case .unreadable(let request, let problem):
                return "cannot read corral's answer to \(request): \(problem). Is the server the same version as this CLI?"
            case .unsendable(let request):
                return "cannot send \(request): a value of its body cannot be written as JSON (a number that is not finite?); nothing was sent"
            }
        }

        /// A route of one session: `/api/sessions/{id}…` or `/api/debug/session/{id}…`.
        static func isSessionPath(_ path: String) -> Bool {
            path.hasPrefix("/api/sessions/") || path.hasPrefix("/api/debug/session/")
        }
    }

    struct Reply {
        let status: Int
        let body: Data
        /// `GET /api/sessions`: what was asked, for a message about the answer.
        let request: String

        /// The body as `T`; a body of another shape is a failure naming the field.
        func decode<T: Decodable>(_ type: T.Type) throws(Failure) -> T {
            do {
                return try JSONDecoder().decode(type, from: body)
            } catch let error as DecodingError {
                throw .unreadable(request: request, problem: WireProblem.describe(error))
            } catch {
                throw .unreadable(request: request, problem: "\(error)")
            }
        }
    }

    /// An error body: `{"error": "<message>", ...}`.
    private struct ErrorBody: Decodable {
        let error: String

        static func message(in body: Data) -> String? {
            (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws(Failure) -> Reply {
        let response: HTTPClientResponse
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            // A body dropped here was a request without it: the server's defaults, another session.
            guard JSONSerialization.isValidJSONObject(body), let data = try? JSONSerialization.data(withJSONObject: body) else {
                throw .unsendable(request: "\(method) \(path)")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: data))
        }
        do {
            response = try await httpClient.execute(request, timeout: .minutes(10))
        } catch {
            throw .unreachable(reason: Unreachable.reason(error, url: baseURL))
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw .unreachable(reason: "the answer from \(baseURL) was cut off: \(error)")
        }
        let reply = Reply(status: Int(response.status.code), body: Data(buffer: bytes), request: "\(method) \(path)")
        guard (200..<300).contains(reply.status) else {
            throw .refused(status: reply.status, message: ErrorBody.message(in: reply.body) ?? String(decoding: reply.body, as: UTF8.self), path: path)
        }
        return reply
    }

    /// Streams the response body to `sink` as it arrives (logs --follow).
    func stream(_ path: String, into sink: (ByteBuffer) -> Void) async throws(Failure) {
        var request = HTTPClientRequest(url: baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .hours(24 * 365))
        } catch {
            throw .unreachable(reason: Unreachable.reason(error, url: baseURL))
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let bytes = (try? await response.body.collect(upTo: 1 << 20)).map { Data(buffer: $0) } ?? Data()
            let message = ErrorBody.message(in: bytes) ?? ""
            throw .refused(status: Int(response.status.code), message: message, path: path)
        }
        do {
            for try await chunk in response.body { sink(chunk) }
        } catch {
            throw .unreachable(reason: "the stream from \(baseURL) was cut off: \(error)")
        }
    }
}
