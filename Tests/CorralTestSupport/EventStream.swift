import AsyncHTTPClient
import Foundation
import NIOCore

/// A client of `/api/events`: collects the Server-Sent Events as they arrive.
public final class EventStream: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [[String: Any]] = []
    private var task: Task<Void, Never>?

    public static func open(_ url: String, token: String? = nil) async throws -> EventStream {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await TestHTTP.client.execute(request, timeout: .hours(1))
        guard response.status == .ok else { throw SystemErrorDescription("GET \(url): \(response.status)") }
        let stream = EventStream()
        let (started, startedSink) = AsyncStream.makeStream(of: Void.self)
        stream.task = Task {
            var pending = ""
            do {
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    startedSink.yield()
                    while let end = pending.range(of: "\n\n") {
                        let block = pending[..<end.lowerBound]
                        pending = String(pending[end.upperBound...])
                        for line in block.split(separator: "\n") where line.hasPrefix("data: ") {
                            if let event = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any] {
                                stream.lock.withLock { stream.events.append(event) }
                            }
                        }
                    }
                }
            } catch {}
            startedSink.finish()
        }
        // The server's first comment says the subscription is in place.
        for await _ in started { break }
        return stream
    }

    /// Waits for the first `count` events (up to `timeout`).
    public func next(_ count: Int, timeout: Duration = .seconds(15)) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let received = lock.withLock { events }
            if received.count >= count { return Array(received.prefix(count)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw SystemErrorDescription("only \(lock.withLock { events.count }) of \(count) events arrived: \(lock.withLock { events })")
    }

    /// Every event that has arrived so far.
    public var received: [[String: Any]] { lock.withLock { events } }

    public func close() { task?.cancel() }
}
