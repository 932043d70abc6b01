/// What went wrong talking to Redis.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The URL is malformed or asks for something this client does not do (TLS).
        case invalidURL
        /// No connection could be made, or it was lost.
        case connection
        /// No answer in time (the connection is closed: later answers would be misread).
        case timeout
        /// Redis answered with an error; `message` is Redis's own.
        case server
        /// The bytes from the server were not RESP.
        case protocolViolation
        /// The caller's task was cancelled while it waited for a connection (nothing was sent).
        case cancelled
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String {
        switch kind {
        case .server: "Redis: \(message)"
        default: message
        }
    }
}
