import NIOCore
import Synchronization

/// Whether a connection's client has gone: its side closed (or the whole connection did). A
/// response that writes nothing for long (a followed log of a quiet agent, an event stream
/// between heartbeats) would otherwise learn it only at its next write, holding the caller's
/// `max_streams_per_token` slot until then: for a quiet agent's log, until the session ends.
/// TCP does not tell a client that has closed from one that has only shut down its sending side
/// and reads on (`nc -N`): both are `sendingSide` until a write fails (`whole`), so a response
/// that can write something harmless (an event stream's comment) probes with it.
final class ClientHangUp: Sendable {
    enum Going: Sendable {
        /// The client sends nothing more: it has closed, or it reads on.
        case sendingSide
        /// The connection is closed.
        case whole
    }

    private struct State {
        var gone: Going?
        var nextKey = 0
        var actions: [Int: @Sendable (Going) -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Runs `action` when the client's side closes, and again when the connection does (at once
    /// with what has happened, if anything has); the key given back removes it.
    func onHangUp(_ action: @escaping @Sendable (Going) -> Void) -> Int {
        let (key, gone) = state.withLock { state -> (Int, Going?) in
            state.nextKey += 1
            if state.gone != .whole { state.actions[state.nextKey] = action }
            return (state.nextKey, state.gone)
        }
        if let gone { action(gone) }
        return key
    }

    func remove(_ key: Int) {
        _ = state.withLock { $0.actions.removeValue(forKey: key) }
    }

    fileprivate func hungUp(_ going: Going) {
        let actions = state.withLock { state -> [@Sendable (Going) -> Void] in
            guard state.gone != .whole, state.gone != going else { return [] }
            state.gone = going
            defer { if going == .whole { state.actions = [:] } }
            return Array(state.actions.values)
        }
        for action in actions { action(going) }
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
        if let event = event as? ChannelEvent, event == .inputClosed { hangUp.hungUp(.sendingSide) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp.hungUp(.whole)
        context.fireChannelInactive()
    }
}
