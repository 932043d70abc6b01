import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Hummingbird's HTTP/1.1 channel with corral's request reception on top: `RequestBytesObserver`
/// and `ClientHangUpHandler` at the front of the pipeline (after TLS), `RequestReceptionHandler`
/// after the HTTP decoder.
struct CorralHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(RequestBytesObserver(), ClientHangUpHandler())
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // Right after the decoder, where the request's HTTP version is still known (HTTP types
            // drop it).
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(HTTP10ExpectationFilter(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Tells `RequestReceptionHandler` that bytes arrived, before the HTTP decoder has made anything
/// of them: a request's clock starts with its first byte, not once its headers are complete.
final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct BytesArrived {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(BytesArrived())
        context.fireChannelRead(data)
    }
}

/// An HTTP/1.0 request's `Expect` is ignored, as RFC 9110 asks: no 1xx answer may go to an
/// HTTP/1.0 client.
final class HTTP10ExpectationFilter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor == 0, head.headers.contains(name: "expect") else {
            return context.fireChannelRead(data)
        }
        head.headers.remove(name: "expect")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

/// How a request is received. A whole request (headers and body) must arrive within `timeout`
/// of its first byte: a client that keeps sending a byte now and then is never idle, so the idle
/// timeout alone would let it hold a connection (and, once authenticated, a request slot) for as
/// long as it likes; past the deadline the request is answered 408. Headers over the decoder's
/// limits are answered 431 (Hummingbird would say 400 to any parse error). Either way the
/// connection is closed.
final class RequestReceptionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// Between requests.
        case idle
        /// A request is arriving: the deadline runs.
        case receiving
        /// The request has arrived; its answer is being written.
        case answering
    }

    static let host = HTTPField.Name("Host")!
    private let timeout: TimeAmount
    private let timeoutSeconds: Int64
    private var phase = Phase.idle
    private var deadline: Scheduled<Void>?
    /// A response has begun and not ended: nothing else may be written into it.
    private var responding = false
    /// The request being received was answered already (before its body was in: a 401, a 413).
    private var answered = false
    /// Bytes that are not HTTP came while a request was being answered: close after its answer.
    private var closeAfterResponse = false
    private var closed = false

    init(timeout: Duration) {
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        self.timeoutSeconds = max(1, timeout.components.seconds)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        deadline?.cancel()
        deadline = nil
        if phase == .answering || responding {
            // Pipelined: the bad bytes follow a request that is being answered (and was acted
            // on). Its answer goes out whole first; then the connection closes. A head of the
            // bad request that went on is failed.
            closeAfterResponse = true
            if phase != .answering { context.fireErrorCaught(error) }
            return
        }
        if parseError == .headerOverflow {
            answer(context, .requestHeaderFieldsTooLarge, "request headers too large (at most 100 fields, 16 KiB each and 32 KiB in all)")
        } else {
            // Hummingbird answers these with a bare 400: no body, no word of what was wrong.
            answer(context, .badRequest, "the request is not valid HTTP/1.1 (\(parseError)); nothing of it was acted on")
            // Passed on all the same: a request whose head was taken is failed by it, where its
            // body, cut short, would otherwise read as complete (a broken chunk started a
            // session with an empty body). What it answers is not written: the answer is sent.
            context.fireErrorCaught(error)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is RequestBytesObserver.BytesArrived else { return context.fireUserInboundEventTriggered(event) }
        if phase == .idle { startReceiving(context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Closing, or about to once the answer under way is out: nothing more goes on.
        guard !closed, !closeAfterResponse else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let (status, message) = Self.refusal(of: head) {
                deadline?.cancel()
                deadline = nil
                // Pipelined behind a request being answered: that answer first, then the close.
                if phase == .answering || responding { closeAfterResponse = true } else { answer(context, status, message) }
                return
            }
            // A pipelined request's bytes may have come in while the previous one was answered.
            // Its 100 would go out ahead of that answer: it is not sent (a client that pipelines
            // does not wait for it).
            let pipelined = phase == .answering || responding
            if deadline == nil { startReceiving(context) }
            if !pipelined, let goOn = Self.continues(head) {
                if goOn {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                } else {
                    // Its body will not come: once its 413 is out, the connection closes (the next
                    // request's bytes would be read as that body).
                    closeAfterResponse = true
                }
            }
        case .body:
            break
        case .end:
            deadline?.cancel()
            deadline = nil
            // Answered before its body was in, and that answer is out: the next bytes are a new
            // request, not one pipelined behind an answer.
            phase = answered && !responding ? .idle : .answering
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            responding = true
            if phase == .receiving { answered = true }
            if closeAfterResponse {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .end:
            responding = false
            if phase == .answering { phase = .idle }
            guard closeAfterResponse else { break }
            closed = true
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// Why a request is refused from its head, before any of it is acted on (the connection is
    /// closed after the answer):
    /// - a second Host: the first is the request's authority, another is ambiguous (RFC 9112:
    ///   400), and only the first would have been checked;
    /// - a transfer coding other than chunked alone (RFC 9112: 501): the parser reads
    ///   `gzip, chunked` as chunked, where a proxy in front may have read another body;
    /// - a content coding (RFC 9110: 415): corral decodes none, and a compressed body read as
    ///   JSON would be refused as garbage, or worse, taken for what it is not.
    private static func refusal(of head: HTTPRequest) -> (HTTPResponse.Status, String)? {
        if head.headerFields.contains(Self.host) { return (.badRequest, "more than one Host header") }
        let values = head.headerFields[values: .transferEncoding]
        let codings = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard values.isEmpty || codings == ["chunked"] else {
            return (.notImplemented, "Transfer-Encoding '\(values.joined(separator: ", "))' is not supported: only chunked; nothing of the request was acted on")
        }
        let contentCodings = head.headerFields[values: .contentEncoding]
        let coded = contentCodings.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard coded.allSatisfy({ $0 == "identity" }) else {
            return (.unsupportedMediaType, "Content-Encoding '\(contentCodings.joined(separator: ", "))' is not supported: send the body uncompressed; nothing of the request was acted on")
        }
        return nil
    }

    /// A client that sends `Expect: 100-continue` holds its body back until told to go on (or
    /// until a timeout of its own: curl's second, others' never). Told at once (true), unless
    /// the body it declares is over every route's limit (false): its 413 comes without the body.
    /// Nil without the expectation.
    private static func continues(_ head: HTTPRequest) -> Bool? {
        guard head.headerFields[.expect]?.lowercased() == "100-continue" else { return nil }
        guard let declared = head.headerFields[.contentLength] else { return true }
        return Int(declared).map { $0 <= CorralApp.maxBodyBytes } ?? false
    }

    private func startReceiving(_ context: ChannelHandlerContext) {
        phase = .receiving
        answered = false
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            deadline = nil
            answer(context, .requestTimeout, "the request did not arrive in full within request_timeout_seconds (\(timeoutSeconds) s)")
        }
    }

    /// Answers `status` unless the request has its answer (or one is under way), then closes the
    /// connection.
    private func answer(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ message: String) {
        guard !closed else { return }
        if !responding && !answered {
            let body = ByteBuffer(string: #"{"code":"\#(APIError.code(for: status))","error":"\#(message)"}"#)
            var fields: HTTPFields = [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes), .connection: "close"]
            FrameGuard.apply(to: &fields)
            let head = HTTPResponse(status: status, headerFields: fields)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        closed = true
        context.close(promise: nil)
    }
}
