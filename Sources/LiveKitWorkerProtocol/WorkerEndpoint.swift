import Foundation

/// Where a worker connects: LiveKit's URL as operators give it (`http`, `https`, `ws` or `wss`)
/// turned into the WebSocket URL of its agent service, `<url>/agent`, keeping a path prefix
/// (`wss://host/prefix/agent`) as LiveKit's own worker does. A query or fragment is dropped.
public struct WorkerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notAURL(String)
        case unsupportedScheme(String)
        case noHost(String)

        public var description: String {
            switch self {
            case .notAURL(let url): "LiveKit URL \"\(url)\" is not a URL; give it as wss://host[:port][/path]"
            case .unsupportedScheme(let url):
                "LiveKit URL \"\(url)\" must start with ws://, wss://, http:// or https://"
            case .noHost(let url): "LiveKit URL \"\(url)\" names no host"
            }
        }
    }

    /// The WebSocket URL, e.g. `wss://example.livekit.cloud/agent`.
    public let url: String
    /// Whether the connection needs TLS (`wss`).
    public let secure: Bool
    /// The host to connect to (an IPv6 address without its brackets), its port (80 or 443 when
    /// the URL names none), and the request path (`/prefix/agent`).
    public let host: String
    public let port: Int
    public let path: String
    /// `host[:port]` as the URL gives it, for the `Host` header.
    let authority: String

    public init(livekitURL: String) throws(Failure) {
        guard let components = URLComponents(string: livekitURL.trimmingCharacters(in: .whitespaces)) else {
            throw .notAURL(livekitURL)
        }
        let scheme: String
        switch components.scheme?.lowercased() {
        case "ws", "http": scheme = "ws"
        case "wss", "https": scheme = "wss"
        default: throw .unsupportedScheme(livekitURL)
        }
        guard let host = components.host, !host.isEmpty else { throw .noHost(livekitURL) }
        // An IPv6 address needs its brackets back (some Foundations keep them in `host`).
        var authority = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        if let port = components.port { authority += ":\(port)" }
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        url = "\(scheme)://\(authority)\(path)/agent"
        secure = scheme == "wss"
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (secure ? 443 : 80)
        self.path = path + "/agent"
        self.authority = authority
    }

    public var description: String { url }
}
