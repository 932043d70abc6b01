/// An error corral reports to its callers: a stable code, a message that says what happened and
/// what to do, and the system error behind it where there is one.
public struct CorralError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }
        /// The code as the API's error bodies carry it (`"code": "not_found"`).
        public var identifier: String { name.replacingOccurrences(of: " ", with: "_") }

        /// The request is malformed or out of range.
        public static let invalidInput = Code("invalid input")
        /// No such session or agent profile.
        public static let notFound = Code("not found")
        /// The session id is already in use.
        public static let conflict = Code("conflict")
        /// `max_sessions` is reached, or corral is shutting down.
        public static let unavailable = Code("unavailable")
        /// The agent could not be started.
        public static let spawnFailed = Code("spawn failed")
        /// The session store failed.
        public static let store = Code("store")
        /// The configuration is invalid.
        public static let configuration = Code("configuration")
        /// A system call failed.
        public static let system = Code("system")
    }

    public let code: Code
    public let message: String
    public let underlying: SystemError?

    public init(_ code: Code, _ message: String, underlying: SystemError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(message): \(underlying)" }
        return message
    }

    /// A session id that a live session (or one still being started or ended) holds.
    public static func sessionIDInUse(_ id: some CustomStringConvertible) -> CorralError {
        CorralError(.conflict, "session id '\(id)' is already in use; end that session first or choose another id")
    }
}
