import CorralCore
import CorralPlatform
import CorralSecurity
import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// The long-lived responses: `/api/events` (Server-Sent Events) and a session's log, followed.
/// Each counts toward its token's `max_streams_per_token`, and each ends when the server stops
/// (after the supervisor: while it drains, streams go on), so that it never holds corral's exit.
/// Declared in `Routes.streams`, which checks the caller's role before these run.
struct StreamingRoutes {
    typealias Context = CorralRequestContext

    let supervisor: Supervisor
    let events: EventBus
    let redactor: Redactor
    let cluster: ClusterRouting?
    let streams: StreamLimiter
    /// Sent as an SSE comment on an idle event stream, so proxies keep it open.
    var heartbeat: Duration = .seconds(15)
    var followPollInterval: Duration = .milliseconds(200)

    /// `GET /api/events`: every session event from now on, as `event: <type>`, `id: <sequence>`,
    /// `data: <json>`. Ends when corral stops.
    @Sendable func eventStream(_ request: Request, context: Context) async throws -> Response {
        let caller = context.caller
        let lease = try streams.acquire(caller.name)
        let subscription = events.subscribe()
        let heartbeat = self.heartbeat
        let (chunks, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingNewest(4096))
        let producer = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    for await event in subscription {
                        let data = (try? encoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                        sink.yield(ByteBuffer(string: "event: \(event.kind.rawValue)\nid: \(event.sequence)\ndata: \(data)\n\n"))
                    }
                    sink.finish()
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: heartbeat) } catch { return }
                        sink.yield(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                }
            }
        }
        sink.onTermination = { _ in producer.cancel() }
        let hangUp = await ClientHangUp.of(context.channel)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let watch = hangUp?.onHangUp { going in
                    switch going {
                    case .whole: sink.finish()
                    case .sendingSide:
                        // A client that has closed answers the first comment with a reset, and the
                        // second fails; one that reads on gets both and the stream goes on.
                        sink.yield(ByteBuffer(string: ": keep-alive\n\n"))
                        Task {
                            try? await Task.sleep(for: .seconds(1))
                            sink.yield(ByteBuffer(string: ": keep-alive\n\n"))
                        }
                    }
                }
                defer {
                    producer.cancel()
                    if let watch { hangUp?.remove(watch) }
                    withExtendedLifetime(lease) {}
                }
                try await withGracefulShutdownHandler {
                    // Something to flush at once: the client knows it is subscribed.
                    try await writer.write(ByteBuffer(string: ": subscribed\n\n"))
                    for await chunk in chunks { try await writer.write(chunk) }
                } onGracefulShutdown: {
                    sink.finish()
                }
                try await writer.finish(nil)
            }
        )
    }

    /// `GET /api/sessions/{id}/logs?tail=N&follow=true`: the last N lines (default 100), then, with
    /// `follow`, what the agent writes until its session ends. For everyone but admins, secrets
    /// in the lines (`NAME=value` with a secret's name, URL passwords) are redacted.
    @Sendable func logs(_ request: Request, context: Context) async throws -> Response {
        let caller = context.caller
        guard let id = SessionID(context.parameters.get("id") ?? "") else {
            throw APIError(.badRequest, "invalid session id; \(SessionID.rule)")
        }
        let query = request.uri.queryParameters
        var lines = 100
        if let text = query["tail"] {
            guard let value = Int(text), (0...100_000).contains(value) else {
                throw APIError(.badRequest, "tail: expected a number of lines from 0 to 100000")
            }
            lines = value
        }
        let follow = try Self.flag(query["follow"].map(String.init), name: "follow")
        if let cluster, !ClusterRouting.isForwarded(context), await !supervisor.isLive(id), let remote = try await cluster.locate(id) {
            return try await cluster.forward(request, to: remote, caller: context.caller)
        }
        guard let (path, live) = await supervisor.logPath(for: id), let window = try await Self.read({ [lines] in await Blocking.run { LogTail.last(lines, of: path) } }) else {
            throw APIError(.notFound, "no log for session '\(id)'")
        }
        let (tail, end) = (window.text, window.end)
        let filter = LineRedactor(redactor: caller.role == .admin ? nil : redactor, startsMidLine: window.startsMidLine)
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache"]
        guard follow && live else {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: filter.all(tail))))
        }
        let lease = try streams.acquire(caller.name)
        let supervisor = self.supervisor
        let interval = followPollInterval
        let hangUp = await ClientHangUp.of(context.channel)
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                defer { withExtendedLifetime(lease) {} }
                var filter = filter
                try await writer.write(ByteBuffer(bytes: filter.complete(tail)))
                var position = end
                let stopping = StopFlag()
                // A log has no harmless bytes to probe with: a client that only shuts down its
                // sending side ends it too.
                let watch = hangUp?.onHangUp { _ in stopping.set() }
                defer { if let watch { hangUp?.remove(watch) } }
                try await withGracefulShutdownHandler {
                    while true {
                        let stillLive = await supervisor.isLive(id) && !stopping.isSet
                        // A log being rotated is read at the next turn, also after the session's end.
                        let reading = LogTail.appended(to: path, since: position)
                        if case .read(let appended) = reading {
                            position = appended.end
                            let cut = appended.rotated ? filter.rotated(startsMidLine: appended.startsMidLine) : []
                            let complete = cut + filter.complete(appended.bytes)
                            if !complete.isEmpty { try await writer.write(ByteBuffer(bytes: complete)) }
                        }
                        if !stillLive && !reading.isBusy { break }
                        try await Task.sleep(for: interval)
                    }
                } onGracefulShutdown: {
                    stopping.set()
                }
                let rest = filter.flush()
                if !rest.isEmpty { try await writer.write(ByteBuffer(bytes: rest)) }
                try await writer.finish(nil)
            }
        )
    }

    /// A log's read, once a rotation under way (a copy of at most `log_max_bytes`) is done; nil
    /// for a missing log.
    static func read<Value>(_ attempt: () async -> LogTail.Reading<Value>) async throws -> Value? {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            switch await attempt() {
            case .read(let value): return value
            case .missing: return nil
            case .busy:
                guard ContinuousClock.now < deadline else { throw APIError(.serviceUnavailable, "the session's log is being rotated; try again") }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// The values the OpenAPI document lists (`OpenAPIOperation.Parameter.flag`), exactly:
    /// `TRUE` was taken too, which the document says is refused.
    static func flag(_ value: String?, name: String) throws(APIError) -> Bool {
        switch value {
        case nil, "0", "false", "no": return false
        case "", "1", "true", "yes": return true
        default: throw APIError(.badRequest, "\(name): expected true or false (or 1, 0, yes, no), in lower case")
        }
    }
}

/// Set once, from a graceful-shutdown handler, read by a loop.
private final class StopFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
