import AsyncHTTPClient
import CorralCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// POSTs every session event to `events_webhook_url`, in order, retrying with backoff. It has its
/// own subscription to the event bus, so a slow or failing receiver never holds up a session:
/// past the subscription's buffer the oldest events are dropped (and that is logged).
///
/// Once corral is stopping, what is left is tried for `shutdownBudget` at most: a receiver that
/// does not answer (a refused connection waits out its request timeout in the HTTP client) held
/// corral's exit for minutes, and with it the data directory a replacement waits for. Past the
/// budget, an event that fails is given up at once, and so is every later one.
public struct WebhookService: Service {
    let url: String
    let events: EventBus
    let logger: Logger
    var attempts = 6
    var firstBackoff: Duration = .milliseconds(500)
    var maxBackoff: Duration = .seconds(30)
    var requestTimeout: Duration = .seconds(10)
    var shutdownBudget: Duration = .seconds(10)

    /// `Authorization: Basic` for the URL's `user:password@`, which the URL itself does not carry
    /// to the receiver (the HTTP client sends no user information).
    let authorization: String?

    public init(url: String, events: EventBus, logger: Logger) {
        self.events = events
        self.logger = logger
        if var components = URLComponents(string: url), let user = components.user {
            let credentials = user.removingPercentEncoding.map { $0 + ":" + (components.password?.removingPercentEncoding ?? "") } ?? ""
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
            components.user = nil
            components.password = nil
            self.url = components.string ?? url
        } else {
            authorization = nil
            self.url = url
        }
    }

    /// Where delivery stands while corral stops.
    private struct Stopping {
        var deadline: ContinuousClock.Instant
        var givenUp = 0
    }

    public func run() async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lastSequence: UInt64?
        var stopping: Stopping?
        // Runs until the bus is finished (the supervisor has stopped), so the events of the
        // last sessions' ends are still delivered.
        for await event in events.subscribe() {
            if let lastSequence, event.sequence > lastSequence + 1 {
                logger.warning("webhook fell behind; events were dropped", metadata: ["dropped": "\(event.sequence - lastSequence - 1)"])
            }
            lastSequence = event.sequence
            guard let body = try? encoder.encode(event) else { continue }
            if let given = stopping, given.givenUp > 0 {
                stopping?.givenUp += 1
                continue
            }
            if !(await deliver(body, event: event, stopping: &stopping)), stopping != nil { stopping?.givenUp += 1 }
        }
        if let stopping, stopping.givenUp > 0 {
            logger.error(
                "webhook: events not delivered before corral stopped (the receiver did not take them within the shutdown's budget)",
                metadata: ["events": "\(stopping.givenUp)", "budget_seconds": "\(shutdownBudget.components.seconds)"]
            )
        }
        // Everything is delivered; returning before the service group asks would count as a
        // failure.
        try? await gracefulShutdown()
    }

    /// Tries until delivered, out of attempts, or past the shutdown's deadline (set by the first
    /// attempt made once corral is stopping). Whether the receiver took it.
    private func deliver(_ body: Data, event: CorralEvent, stopping: inout Stopping?) async -> Bool {
        var backoff = firstBackoff
        for attempt in 1...attempts {
            if stopping == nil, Task.isShuttingDownGracefully { stopping = Stopping(deadline: .now + shutdownBudget) }
            let deadline = stopping?.deadline
            let timeout = deadline.map { min(requestTimeout, max(.milliseconds(100), $0 - .now)) } ?? requestTimeout
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "corral")
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                request.body = .bytes(ByteBuffer(data: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .init(timeout))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) { return true }
                logger.warning("webhook answered \(response.status.code)", metadata: ["attempt": "\(attempt)", "event": "\(event.kind.rawValue)"])
            } catch {
                logger.warning("webhook delivery failed", metadata: ["attempt": "\(attempt)", "event": "\(event.kind.rawValue)", "error": "\(error)"])
            }
            guard attempt < attempts else { break }
            if let deadline, .now + backoff >= deadline { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maxBackoff)
        }
        logger.error("webhook gave up on an event", metadata: ["event": "\(event.kind.rawValue)", "session": "\(event.sessionID)"])
        return false
    }
}
