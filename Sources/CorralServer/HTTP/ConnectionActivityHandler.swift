import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Reports what its connection is doing to the `ConnectionRegistry`, and closes it when asked to
/// make room, but only if it is still doing what it last reported: idle, with every answer written
/// out (a close drops writes still queued), or with part of a request's head come and nothing
/// under way. A request counts from its head until its answer's end has been written, pipelined
/// ones too; bytes come after the last head mean a request is arriving.
final class ConnectionActivityHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: ConnectionRegistry
    /// Requests whose head has come and whose answer has not been written out.
    private var underWay = 0
    /// Bytes have come since the last request was read whole (or since the connection opened):
    /// the next one's head is arriving.
    private var bytesSinceHead = false
    /// A request's head has come and its end not yet: its body's bytes are not a new head.
    private var readingRequest = false
    private var answeredAny = false
    private var report = ConnectionRegistry.Report(activity: .idle(used: false), since: .now, generation: 0)
    private var registered = false

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        registered = true
        registry.opened(context.channel, report) { generation in
            loop.execute {
                let (handler, context) = bound.value
                handler.closeForRoom(context, generation: generation)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        unregister(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        unregister(context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesObserver.BytesArrived, !bytesSinceHead, !readingRequest {
            bytesSinceHead = true
            changed(context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            underWay += 1
            readingRequest = true
            bytesSinceHead = false
            changed(context)
        case .end:
            readingRequest = false
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            underWay = max(0, underWay - 1)
            answeredAny = true
            changed(context)
        }
        context.write(data, promise: written)
    }

    private func changed(_ context: ChannelHandlerContext) {
        let activity: ConnectionRegistry.Activity =
            underWay > 0 ? .answering : readingRequest || bytesSinceHead ? .receiving : .idle(used: answeredAny)
        guard activity != report.activity, registered else { return }
        report = .init(activity: activity, since: .now, generation: report.generation &+ 1)
        registry.update(context.channel, report)
    }

    private func closeForRoom(_ context: ChannelHandlerContext, generation: UInt64) {
        guard registered else { return }
        // Not if it has changed since it was chosen, nor once the newcomer it was chosen for has
        // gone (corral back at the cap).
        guard generation == report.generation, report.activity != .answering, registry.isOverCap else {
            return registry.declined(context.channel, generation: generation)
        }
        context.close(promise: nil)
    }

    private func unregister(_ context: ChannelHandlerContext) {
        guard registered else { return }
        registered = false
        registry.closed(context.channel)
    }
}
