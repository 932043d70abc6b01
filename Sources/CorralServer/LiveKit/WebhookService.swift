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
public struct WebhookService: Service {
    let url: String
    let events: EventBus
    let logger: Logger
    var attempts = 6
    var firstBackoff: Duration = .milliseconds(500)
    var maxBackoff: Duration = .seconds(30)

    public init(url: String, events: EventBus, logger: Logger) {
        self.url = url
        self.events = events
        self.logger = logger
    }

    public func run() async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lastSequence: UInt64?
        // Runs until the bus is finished (the supervisor has stopped), so the events of the
        // last sessions' ends are still delivered.
        for await event in events.subscribe() {
            if let lastSequence, event.sequence > lastSequence + 1 {
                logger.warning("webhook fell behind; events were dropped", metadata: ["dropped": "\(event.sequence - lastSequence - 1)"])
            }
            lastSequence = event.sequence
            guard let body = try? encoder.encode(event) else { continue }
            await deliver(body, event: event)
        }
        // Everything is delivered; returning before the service group asks would count as a
        // failure.
        try? await gracefulShutdown()
    }

    private func deliver(_ body: Data, event: CorralEvent) async {
        var backoff = firstBackoff
        for attempt in 1...attempts {
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "corral")
                request.body = .bytes(ByteBuffer(data: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) { return }
                logger.warning("webhook answered \(response.status.code)", metadata: ["attempt": "\(attempt)", "event": "\(event.kind.rawValue)"])
            } catch {
                logger.warning("webhook delivery failed", metadata: ["attempt": "\(attempt)", "event": "\(event.kind.rawValue)", "error": "\(error)"])
            }
            guard attempt < attempts else { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maxBackoff)
        }
        logger.error("webhook gave up on an event", metadata: ["event": "\(event.kind.rawValue)", "session": "\(event.sessionID)"])
    }
}
