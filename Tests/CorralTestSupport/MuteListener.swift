import NIOCore
import NIOPosix
import Synchronization

/// A TCP listener on 127.0.0.1 that accepts connections, reads what they send and never answers:
/// a LiveKit server that takes the connection and then hangs (before the TLS handshake, the
/// WebSocket upgrade, anything). `close()` stops listening and closes what it accepted, so
/// another server can take the port.
public final class MuteListener: Sendable {
    public let port: Int
    private let server: any Channel
    private let state: Shared

    private struct State {
        var accepted: [any Channel] = []
        var received: [UInt8] = []
        var closed = false
    }

    private final class Shared: Sendable {
        let mutex = Mutex(State())
        func withLockedValue<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    public var url: String { "ws://127.0.0.1:\(port)" }
    /// Connections accepted so far.
    public var accepted: Int { state.withLockedValue { $0.accepted.count } }
    /// Accepted connections not closed yet (by either side).
    public var open: Int { state.withLockedValue { $0.accepted.filter(\.isActive).count } }
    /// What every connection sent, together (e.g. `GET /agent HTTP/1.1…` or a TLS ClientHello).
    public var received: [UInt8] { state.withLockedValue { $0.received } }
    /// What was received, as text (bytes that are not UTF-8 replaced).
    public var receivedText: String { String(decoding: received, as: UTF8.self) }

    private init(server: any Channel, state: Shared) {
        self.server = server
        self.state = state
        port = server.localAddress?.port ?? 0
    }

    /// Listens on a free port, or on `port`.
    public static func start(port: Int = 0) async throws -> MuteListener {
        let state = Shared()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let accepted = state.withLockedValue { state in
                    if !state.closed { state.accepted.append(channel) }
                    return !state.closed
                }
                guard accepted else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Recorder(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return MuteListener(server: server, state: state)
    }

    /// Runs `body` with a new listener, always closing it.
    public static func with<T>(_ body: (MuteListener) async throws -> T) async throws -> T {
        let listener = try await start()
        do {
            let result = try await body(listener)
            await listener.close()
            return result
        } catch {
            await listener.close()
            throw error
        }
    }

    /// Stops listening and closes every connection it accepted.
    public func close() async {
        let accepted = state.withLockedValue { state in
            state.closed = true
            return state.accepted
        }
        try? await server.close()
        for channel in accepted { try? await channel.close() }
    }

    private final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let state: Shared

        init(state: Shared) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            state.withLockedValue { $0.received += bytes }
        }
    }
}
