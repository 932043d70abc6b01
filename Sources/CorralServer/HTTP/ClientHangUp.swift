import NIOCore
import Synchronization

/// Whether a connection's client has gone: its side closed (or the whole connection did). A
/// response that writes nothing for long (a followed log of a quiet agent, an event stream
/// between heartbeats) would otherwise learn it only at its next write, holding the caller's
/// `max_streams_per_token` slot until then: for a quiet agent's log, until the session ends.
/// A client that only half-closes (shuts down its sending side, reading on) counts as gone too:
/// an HTTP/1.1 client does not do that while it waits for an answer.
final class ClientHangUp: Sendable {
    private struct State {
        var gone = false
        var nextKey = 0
        var actions: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Runs `action` once the client has gone (at once if it has); the key given back removes it.
    func onHangUp(_ action: @escaping @Sendable () -> Void) -> Int {
        let key: Int? = state.withLock { state in
            guard !state.gone else { return nil }
            state.nextKey += 1
            state.actions[state.nextKey] = action
            return state.nextKey
        }
        guard let key else {
            action()
            return 0
        }
        return key
    }

    func remove(_ key: Int) {
        _ = state.withLock { $0.actions.removeValue(forKey: key) }
    }

    fileprivate func hungUp() {
        let actions = state.withLock { state in
            state.gone = true
            defer { state.actions = [:] }
            return Array(state.actions.values)
        }
        for action in actions { action() }
    }

    /// The hang-up of the connection `channel` serves; nil where no `ClientHangUpHandler` watches
    /// it (a test's channel).
    static func of(_ channel: any Channel) async -> ClientHangUp? {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ClientHangUpHandler.self).hangUp
        }.get()
    }
}

/// Watches a connection for its client's going, at the front of the pipeline (after TLS), before
/// HTTP's handlers, which hold a close of the client's side back until the answer under way is out.
final class ClientHangUpHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let hangUp = ClientHangUp()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { hangUp.hungUp() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp.hungUp()
        context.fireChannelInactive()
    }
}
