import NIOCore
import NIOPosix

/// One connection to Redis. Commands are written as they come and answered in order (Redis
/// answers in order), so any number may be in flight: that is pipelining.
final class RedisConnection: Sendable {
    let channel: any Channel
    private let commandTimeout: TimeAmount

    private init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    static func connect(to url: RedisURL, connectTimeout: TimeAmount, commandTimeout: TimeAmount) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(connectTimeout)
                // At TCP's level: at the socket's, the same number is SO_DEBUG, which needs CAP_NET_ADMIN
                // (the systemd unit has none), and every connection failed without it.
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                        try channel.pipeline.syncOperations.addHandler(RedisCommandHandler())
                    }
                }
                .connect(host: url.host, port: url.port).get()
        } catch {
            throw RedisError(.connection, "cannot connect to Redis at \(url.host):\(url.port): \(error)")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: commandTimeout)
        do throws(RedisError) {
            if let password = url.password {
                let auth = url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try await connection.send(auth).throwingServerError()
            }
            if url.database != 0 {
                try await connection.send(["SELECT", String(url.database)]).throwingServerError()
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    var isActive: Bool { channel.isActive }

    func close() {
        channel.close(promise: nil)
    }

    func send(_ command: [String]) async throws(RedisError) -> RESPValue {
        try await pipeline([command])[0]
    }

    /// Writes every command at once, then collects the answers in order.
    func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RESPValue] {
        guard channel.isActive else { throw RedisError(.connection, "the connection to Redis is closed") }
        var buffer = channel.allocator.buffer(capacity: 256)
        for command in commands { RESPCoding.encode(command, into: &buffer) }
        let channel = self.channel
        let promises = commands.map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        let timeout = commandTimeout
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            let error = RedisError(.timeout, "Redis did not answer within \(timeout.nanoseconds / 1_000_000) ms")
            for promise in promises { promise.fail(error) }
            channel.close(promise: nil)
        }
        channel.writeAndFlush(RedisCommandHandler.Request(bytes: buffer, promises: promises), promise: nil)
        var results: [RESPValue] = []
        do {
            for promise in promises { results.append(try await promise.futureResult.get()) }
        } catch let error as RedisError {
            deadline.cancel()
            throw error
        } catch {
            deadline.cancel()
            throw RedisError(.connection, "the connection to Redis failed: \(error)")
        }
        deadline.cancel()
        return results
    }
}

/// Matches answers to the commands written, in order, and fails them all when the connection
/// goes away.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request: Sendable {
        let bytes: ByteBuffer
        let promises: [EventLoopPromise<RESPValue>]
    }

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(contentsOf: request.promises)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let promise = waiting.popFirst() else {
            // An answer nobody asked for: the stream is out of step; give up on this connection.
            context.close(promise: nil)
            return
        }
        promise.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure =
            (error is RESPCoding.ProtocolError)
            ? RedisError(.protocolViolation, "Redis sent something that is not RESP: \(error)")
            : RedisError(.connection, "the connection to Redis failed: \(error)")
        failAll(failure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connection, "Redis closed the connection"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: RedisError) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

extension RESPValue {
    /// Redis's own error message as a thrown error.
    @discardableResult
    public func throwingServerError() throws(RedisError) -> RESPValue {
        if case .error(let message) = self { throw RedisError(.server, message) }
        return self
    }
}
