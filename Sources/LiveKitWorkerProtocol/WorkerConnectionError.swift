/// Why a connection to LiveKit's agent service failed or ended.
public enum WorkerConnectionError: Error, Equatable, CustomStringConvertible {
    /// The server did not upgrade the request to a WebSocket: LiveKit answers 401 to a token it
    /// does not accept (a wrong API key or secret), 404 where there is no agent service.
    case upgradeRefused(url: String)
    /// The server closed the connection before it answered the WebSocket upgrade.
    case closedBeforeUpgrade
    /// A connection attempt was still at `step` when its time was up: everything from the TCP
    /// connect to the registration's answer must happen within `registerTimeout`.
    case timedOut(step: WorkerConnectionStep, seconds: Double)
    /// The server's first message was not the answer to the registration.
    case notRegistered(firstMessage: String)
    /// A frame that is not a `ServerMessage`.
    case undecodable(String)
    /// The WebSocket failed once it was up: the socket, or a frame the WebSocket layer refused.
    case webSocketFailed(String)
    /// The server closed the connection (`code` is the WebSocket close code, if it sent one).
    case closed(code: Int?, reason: String?)

    public var description: String {
        switch self {
        case .upgradeRefused(let url):
            "LiveKit refused the WebSocket upgrade at \(url) (it answers 401 when the API key or secret is wrong, 404 when the URL is not a LiveKit server)"
        case .closedBeforeUpgrade:
            "LiveKit closed the connection before it answered the WebSocket upgrade"
        case .timedOut(.tcpConnect, let seconds):
            "LiveKit did not accept the TCP connection within \(seconds) s"
        case .timedOut(.tlsHandshake, let seconds):
            "LiveKit did not complete the TLS handshake within \(seconds) s"
        case .timedOut(.upgrade, let seconds):
            "LiveKit did not answer the WebSocket upgrade within \(seconds) s (is the URL a LiveKit server's?)"
        case .timedOut(.registration, let seconds):
            "LiveKit did not answer the worker's registration within \(seconds) s"
        case .notRegistered(let first):
            "LiveKit's first message was \(first), not the answer to the registration"
        case .undecodable(let detail):
            "LiveKit sent a frame that is not a ServerMessage: \(detail)"
        case .webSocketFailed(let detail):
            "the WebSocket to LiveKit failed: \(detail)"
        case .closed(let code?, let reason?) where !reason.isEmpty:
            "LiveKit closed the connection (\(code) \(reason))"
        case .closed(let code?, _):
            "LiveKit closed the connection (\(code))"
        case .closed(nil, _):
            "the connection to LiveKit was lost without a close frame"
        }
    }

    /// A description of any error a connection attempt ends with, for logs and the state.
    static func describe(_ error: any Error, url: String) -> String {
        if let error = error as? WorkerConnectionError { return error.description }
        return "cannot connect to \(url): \(error)"
    }
}
