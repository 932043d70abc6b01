import NIOCore
import Synchronization

/// A small pool of connections to one Redis server: connected on demand (AUTH and SELECT done on
/// each), a lost connection replaced, and while Redis is unreachable new attempts spaced by a
/// backoff so that a dead server costs each caller one quick failure, not a connect timeout.
/// Callers beyond the pool's size wait in line, without polling, for a released connection.
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
        /// Callers waiting for a connection, served first come, first served.
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        /// Waiters cancelled before they were queued: they must not queue.
        var cancelledEarly: Set<UInt64> = []
    }

    /// What a caller gets from the pool.
    private enum Grant: Sendable {
        /// An open connection.
        case connection(RedisConnection)
        /// Room for one more connection (already counted in `open`): the caller connects.
        case slot
        case failure(RedisError)
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, Never>
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
            let handOff = state.withLock { state in
                state.open -= 1
                return slotFreed(&state)
            }
            if let (waiter, grant) = handOff { waiter.continuation.resume(returning: grant) }
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

    /// Callers waiting for a connection now (every one is in use).
    public var waitingCallers: Int { state.withLock { $0.waiters.count } }

    /// Closes every idle connection; connections in use close when returned. Waiting callers get
    /// an error.
    public func close() {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            return (state.idle, state.waiters)
        }
        for connection in idle { connection.close() }
        for waiter in waiters { waiter.continuation.resume(returning: .failure(Self.closedError)) }
    }

    private static let closedError = RedisError(.connection, "the Redis client is closed")
    private static let cancelledError = RedisError(.cancelled, "cancelled while waiting for a Redis connection")

    /// A connection: an idle one, a new one if there is room, else the first one released after
    /// the callers already waiting have had theirs. A released connection is handed to the first
    /// waiter directly, so nobody polls; a cancelled waiter leaves the queue at once.
    private func checkOut() async throws(RedisError) -> RedisConnection {
        let (immediate, id) = state.withLock { state -> (Grant?, UInt64) in
            if let grant = grantNow(&state) { return (grant, 0) }
            state.nextWaiter += 1
            return (nil, state.nextWaiter)
        }
        let grant: Grant
        if let immediate {
            grant = immediate
        } else {
            grant = await waitForTurn(id)
        }
        switch grant {
        case .connection(let connection): return connection
        case .failure(let error): throw error
        case .slot: return try await connect()
        }
    }

    private func waitForTurn(_ id: UInt64) async -> Grant {
        let grant = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Grant, Never>) in
                let now = state.withLock { state -> Grant? in
                    if state.cancelledEarly.contains(id) { return .failure(Self.cancelledError) }
                    // Something may have been released since the first look.
                    if let grant = grantNow(&state) { return grant }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                    // Not queued yet (or already served, then this is forgotten below).
                    state.cancelledEarly.insert(id)
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: .failure(Self.cancelledError))
        }
        if Task.isCancelled { state.withLock { _ = $0.cancelledEarly.remove(id) } }
        return grant
    }

    /// What a caller may have at once; nil when it has to wait.
    private func grantNow(_ state: inout State) -> Grant? {
        if state.closed { return .failure(Self.closedError) }
        // Those already waiting come first.
        guard state.waiters.isEmpty else { return nil }
        while let connection = state.idle.popLast() {
            if connection.isActive { return .connection(connection) }
            state.open -= 1
        }
        if let retryAfter = state.retryAfter, ContinuousClock.now < retryAfter {
            return .failure(state.lastFailure ?? RedisError(.connection, "Redis is unreachable"))
        }
        guard state.open < configuration.connections else { return nil }
        state.open += 1
        return .slot
    }

    /// Opens the connection a `.slot` made room for.
    private func connect() async throws(RedisError) -> RedisConnection {
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
            let waiters = state.withLock { state in
                state.open -= 1
                // A wrong password is not worth retrying soon either.
                state.retryAfter = .now + state.backoff
                state.backoff = min(state.backoff * 2, configuration.maxBackoff)
                state.lastFailure = error
                // Redis is unreachable: those waiting fail now, as a new caller would.
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.continuation.resume(returning: .failure(error)) }
            throw error
        }
    }

    private func checkIn(_ connection: RedisConnection) {
        let (keep, handOff) = state.withLock { state -> (Bool, (Waiter, Grant)?) in
            guard !state.closed, connection.isActive else {
                state.open -= 1
                return (false, slotFreed(&state))
            }
            guard !state.waiters.isEmpty else {
                state.idle.append(connection)
                return (true, nil)
            }
            return (true, (state.waiters.removeFirst(), .connection(connection)))
        }
        if !keep { connection.close() }
        if let (waiter, grant) = handOff { waiter.continuation.resume(returning: grant) }
    }

    /// A connection was given up (lost, or returned after `close`): the first waiter may open
    /// another.
    private func slotFreed(_ state: inout State) -> (Waiter, Grant)? {
        guard !state.waiters.isEmpty else { return nil }
        let waiter = state.waiters.removeFirst()
        if state.closed { return (waiter, .failure(Self.closedError)) }
        state.open += 1
        return (waiter, .slot)
    }
}
