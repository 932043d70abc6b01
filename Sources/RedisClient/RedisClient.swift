import NIOCore
import Synchronization

/// A small pool of connections to one Redis server: connected on demand (AUTH and SELECT done on
/// each), a lost connection replaced, and while Redis is unreachable new attempts spaced by a
/// backoff so that a dead server costs each caller one quick failure, not a connect timeout.
public final class RedisClient: Sendable {
    public struct Configuration: Sendable {
        public var connections = 4
        public var connectTimeout: Duration = .seconds(2)
        public var commandTimeout: Duration = .seconds(5)
        public var maxBackoff: Duration = .seconds(5)

        public init() {}
    }

    private struct State {
        var idle: [RedisConnection] = []
        var open = 0
        /// No connection attempt before this, after a failed one.
        var retryAfter: ContinuousClock.Instant?
        var backoff: Duration = .milliseconds(100)
        var lastFailure: RedisError?
        var closed = false
    }

    public let url: RedisURL
    private let configuration: Configuration
    private let state = Mutex(State())

    public init(url: RedisURL, configuration: Configuration = Configuration()) {
        self.url = url
        self.configuration = configuration
    }

    public convenience init(_ text: String, configuration: Configuration = Configuration()) throws(RedisError) {
        self.init(url: try RedisURL(parsing: text), configuration: configuration)
    }

    /// Sends one command; a Redis error answer is thrown with Redis's message.
    @discardableResult
    public func send(_ command: String...) async throws(RedisError) -> RESPValue {
        try await send(command)
    }

    @discardableResult
    public func send(_ command: [String]) async throws(RedisError) -> RESPValue {
        try await pipeline([command])[0].throwingServerError()
    }

    /// Sends the commands together and returns every answer (Redis errors included, not thrown).
    public func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RESPValue] {
        let connection = try await checkOut()
        do throws(RedisError) {
            let answers = try await connection.pipeline(commands)
            checkIn(connection)
            return answers
        } catch {
            connection.close()
            state.withLock { $0.open -= 1 }
            throw error
        }
    }

    /// MULTI … EXEC: the commands applied together or not at all. Returns EXEC's answers.
    public func transaction(_ commands: [[String]]) async throws(RedisError) -> [RESPValue] {
        let answers = try await pipeline([["MULTI"]] + commands + [["EXEC"]])
        for answer in answers.dropLast() { try answer.throwingServerError() }
        guard let results = try answers.last?.throwingServerError().array else {
            throw RedisError(.server, "the transaction was discarded")
        }
        return results
    }

    /// Closes every idle connection; connections in use close when returned.
    public func close() {
        let idle = state.withLock { state in
            state.closed = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for connection in idle { connection.close() }
    }

    private func checkOut() async throws(RedisError) -> RedisConnection {
        enum Plan {
            case use(RedisConnection)
            case connect
            case wait
            case refuse(RedisError)
        }
        while true {
            let now = ContinuousClock.now
            let plan: Plan = state.withLock { state in
                if state.closed { return .refuse(RedisError(.connection, "the Redis client is closed")) }
                while let connection = state.idle.popLast() {
                    if connection.isActive { return .use(connection) }
                    state.open -= 1
                }
                if let retryAfter = state.retryAfter, now < retryAfter {
                    return .refuse(state.lastFailure ?? RedisError(.connection, "Redis is unreachable"))
                }
                guard state.open < configuration.connections else { return .wait }
                state.open += 1
                return .connect
            }
            switch plan {
            case .use(let connection): return connection
            case .refuse(let error): throw error
            case .wait:
                try? await Task.sleep(for: .milliseconds(1))
            case .connect:
                do throws(RedisError) {
                    let connection = try await RedisConnection.connect(
                        to: url,
                        connectTimeout: TimeAmount(configuration.connectTimeout),
                        commandTimeout: TimeAmount(configuration.commandTimeout)
                    )
                    state.withLock { state in
                        state.retryAfter = nil
                        state.backoff = .milliseconds(100)
                        state.lastFailure = nil
                    }
                    return connection
                } catch {
                    state.withLock { state in
                        state.open -= 1
                        // A wrong password is not worth retrying soon either.
                        state.retryAfter = .now + state.backoff
                        state.backoff = min(state.backoff * 2, configuration.maxBackoff)
                        state.lastFailure = error
                    }
                    throw error
                }
            }
        }
    }

    private func checkIn(_ connection: RedisConnection) {
        let keep = state.withLock { state -> Bool in
            guard !state.closed, connection.isActive else {
                state.open -= 1
                return false
            }
            state.idle.append(connection)
            return true
        }
        if !keep { connection.close() }
    }
}
