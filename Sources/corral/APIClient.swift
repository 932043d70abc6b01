import AsyncHTTPClient
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
        /// The server answered with an error (exit 1).
        case refused(status: Int, message: String)
        /// corral could not be reached (exit 3).
        case unreachable(url: String, reason: String)

        var exitCode: Int32 {
            switch self {
            case .refused: 1
            case .unreachable: 3
            }
        }

        var description: String {
            switch self {
            case .refused(let status, let message):
                let hint =
                    switch status {
                    case 401: " (set CORRAL_TOKEN or --token-file)"
                    case 404: " (`corral sessions` lists the live sessions)"
                    default: ""
                    }
                return "\(message) [HTTP \(status)]\(hint)"
            case .unreachable(let url, let reason):
                return "cannot reach corral at \(url): \(reason). Is `corral serve` running? Point --url or CORRAL_URL at it."
            }
        }
    }

    struct Reply {
        let status: Int
        let body: Data

        func json() -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws(Failure) -> Reply {
        let response: HTTPClientResponse
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body, let data = try? JSONSerialization.data(withJSONObject: body) {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: data))
        }
        do {
            response = try await httpClient.execute(request, timeout: .minutes(10))
        } catch {
            throw .unreachable(url: baseURL, reason: "\(error)")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw .unreachable(url: baseURL, reason: "the answer was cut off: \(error)")
        }
        let reply = Reply(status: Int(response.status.code), body: Data(buffer: bytes))
        guard (200..<300).contains(reply.status) else {
            throw .refused(status: reply.status, message: reply.json()["error"] as? String ?? String(decoding: reply.body, as: UTF8.self))
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
            throw .unreachable(url: baseURL, reason: "\(error)")
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let bytes = (try? await response.body.collect(upTo: 1 << 20)).map { Data(buffer: $0) } ?? Data()
            let message = ((try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any])?["error"] as? String ?? ""
            throw .refused(status: Int(response.status.code), message: message)
        }
        do {
            for try await chunk in response.body { sink(chunk) }
        } catch {
            throw .unreachable(url: baseURL, reason: "the stream was cut off: \(error)")
        }
    }
}
