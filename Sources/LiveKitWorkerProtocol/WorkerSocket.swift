import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import NIOWebSocket
import Synchronization
// WSCore's WebSocket handling (pings, the close handshake, frames to messages) is what WSClient's
// WebSocketClient runs on its socket; it is taken here without that client, whose socket cannot
// be reached: `run()` awaits an upgrade that cancelling it does not end, and with half-closure on,
// a server that closes before answering leaves that wait open for good. (swift-websocket is pinned
// to its minor version in Package.swift for this.)
@_spi(WSInternal) import WSCore

/// One connection to LiveKit's agent service: TCP, TLS for `wss`, the HTTP upgrade, then the
/// WebSocket, served by a handler. Its steps are reported as they happen, and `cut()` closes it
/// at once whichever step it is at (beneath TLS, so as not to wait for the server's
/// close_notify).
final class WorkerSocket: Sendable {
    enum Step: Sendable {
        case tcpConnected
        case tlsEstablished
    }

    private let endpoint: WorkerEndpoint
    private let headers: HTTPHeaders
    private let tls: NIOSSLContext?
    private let connectTimeout: Duration
    private let webSocket: WebSocketHandler.Configuration
    private let maxFrameSize: Int
    private let logger: Logger
    /// The channels opened so far (more than one while happy eyeballs tries addresses), and
    /// whether the socket was cut (a channel opened after that is closed at once).
    private let channels = Mutex<(open: [any Channel], cut: Bool)>(([], false))

    init(configuration: WorkerConnectionConfiguration, token: String, closeTimeout: Duration, logger: Logger) throws {
        endpoint = configuration.endpoint
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.authority)
        headers.add(name: "Origin", value: "\(endpoint.secure ? "wss" : "ws")://\(endpoint.host)")
        headers.add(name: "Authorization", value: "Bearer \(token)")
        self.headers = headers
        tls = try configuration.endpoint.secure ? NIOSSLContext(configuration: configuration.tlsConfiguration ?? .makeClientConfiguration()) : nil
        connectTimeout = configuration.registerTimeout
        maxFrameSize = configuration.maxMessageSize
        webSocket = .init(
            extensions: [],
            autoPing: .enabled(timePeriod: configuration.pingInterval),
            closeTimeout: closeTimeout,
            validateUTF8: false,
            maxFrameSize: configuration.maxMessageSize
        )
        self.logger = logger
    }

    /// Connects, upgrades and runs `handler` on the WebSocket until it or the server closes it
    /// (`handler` starts when the upgrade is done). Returns the server's close frame, if it sent
    /// one; throws how the connection failed.
    func run(
        reporting report: @escaping @Sendable (Step) -> Void,
        handler: @escaping WebSocketDataHandler<Context>
    ) async throws -> WebSocketCloseFrame? {
        defer { cut() }
        let upgrade = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(Int64(connectTimeout.seconds * 1e9)))
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.setUp(channel, report: report)
                }
            }
        switch try await upgrade.get() {
        case .webSocket(let channel):
            do {
                return try await WebSocketHandler.handle(
                    type: .client, configuration: webSocket, asyncChannel: channel, context: Context(logger: logger), handler: handler
                )
            } catch let error as WorkerConnectionError {
                throw error
            } catch {
                // A socket error, or WSCore's own close for a frame it refused (too large, …).
                throw WorkerConnectionError.webSocketFailed("\(error)")
            }
        case .notUpgraded:
            throw WorkerConnectionError.upgradeRefused(url: endpoint.url)
        }
    }

    /// Closes the connection now, whatever step it is at; a no-op once it is closed.
    func cut() {
        let open = channels.withLock { state in
            state.cut = true
            return state.open
        }
        for channel in open {
            channel.eventLoop.execute {
                // From the TLS handler's place the close goes straight to the socket.
                if let tls = try? channel.pipeline.syncOperations.context(handlerType: NIOSSLClientHandler.self) {
                    tls.close(promise: nil)
                } else {
                    channel.close(promise: nil)
                }
            }
        }
    }

    enum UpgradeResult: Sendable {
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case notUpgraded
    }

    struct Context: WebSocketContext {
        let logger: Logger
    }

    /// The pipeline of a new channel (on its event loop): TLS, the step reporter, and the HTTP
    /// client that asks for the upgrade as soon as the channel is active.
    private func setUp(_ channel: any Channel, report: @escaping @Sendable (Step) -> Void) throws -> EventLoopFuture<UpgradeResult> {
        let wasCut = channels.withLock { state in
            state.open.append(channel)
            return state.cut
        }
        if wasCut { throw ChannelError.ioOnClosedChannel }
        let pipeline = channel.pipeline.syncOperations
        if let tls {
            try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: endpoint.host.isIPAddress ? nil : endpoint.host))
        }
        try pipeline.addHandler(StepReporter(report: report), name: StepReporter.name)
        let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeResult>(maxFrameSize: maxFrameSize) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                // Upgraded: from here WSCore sees the server's half-close and the close handshake.
                channel.pipeline.removeHandler(name: StepReporter.name, promise: nil)
                return .webSocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
            }
        }
        var configuration = NIOUpgradableHTTPClientPipelineConfiguration<UpgradeResult>(
            upgradeConfiguration: .init(
                upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers),
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(UpgradeResult.notUpgraded) }
            )
        )
        configuration.leftOverBytesStrategy = .forwardBytes
        return try pipeline.configureUpgradableHTTPClientPipeline(configuration: configuration)
    }
}

/// Reports the steps of a connection before its upgrade: TCP connected, TLS established. A
/// server that closes its side before the upgrade ends the connection (with half-closure on,
/// the channel would otherwise stay open, waiting for an answer that cannot come).
private final class StepReporter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    static let name = "livekit-worker-steps"
    let report: @Sendable (WorkerSocket.Step) -> Void

    init(report: @escaping @Sendable (WorkerSocket.Step) -> Void) {
        self.report = report
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { report(.tcpConnected) }
    }

    func channelActive(context: ChannelHandlerContext) {
        report(.tcpConnected)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            report(.tlsEstablished)
        } else if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            // The HTTP client after this handler fails the upgrade with this error.
            context.fireErrorCaught(WorkerConnectionError.closedBeforeUpgrade)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address (TLS sends no server name for those).
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
