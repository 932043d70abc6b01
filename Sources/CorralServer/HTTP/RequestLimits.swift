import CorralCore
import Foundation
import Hummingbird
import Synchronization

/// At most `limit` requests doing work at once (`max_concurrent_requests`); past it, 503 with
/// `Retry-After`. A request takes a slot only once its caller is known (a valid bearer token, or
/// a LiveKit signature checked from its header), so strangers cannot hold the slots; the
/// probes (`/healthz`, `/readyz`) never take one.
final class RequestSlots: Sendable {
    let limit: Int
    private let inFlight = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        let now = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        guard now <= limit else {
            throw APIError(.serviceUnavailable, "too many requests in progress (max_concurrent_requests \(limit)); retry shortly", headers: [.retryAfter: "1"])
        }
        return try await body()
    }
}

/// Takes a request slot for each request it guards (after authentication).
struct ConcurrencyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let slots: RequestSlots

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await slots.withSlot { try await next(request, context) }
    }
}

/// Session starts per second per token: a token bucket each, refilled at `rate` per second and
/// holding up to twice that. An empty bucket answers 429 with the seconds until the next start.
final class StartRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let rate: Double
    private let capacity: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perSecond rate: Double) {
        self.rate = rate
        self.capacity = max(1, rate * 2)
    }

    func admit(_ caller: String) throws(APIError) {
        let now = ContinuousClock.now
        let wait: Double? = buckets.withLock { buckets in
            var bucket = buckets[caller] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = (now - bucket.updated)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * rate)
            bucket.updated = now
            defer { buckets[caller] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
            bucket.tokens -= 1
            return nil
        }
        if let wait {
            // A rate near 0 makes the wait astronomical: Retry-After says at most a day.
            let seconds = max(1, Int(min(wait, 86_400).rounded(.up)))
            throw APIError(
                .tooManyRequests,
                "too many session starts for '\(caller)' (session_starts_per_second \(rate)); retry in \(seconds) s",
                headers: [.retryAfter: String(seconds)]
            )
        }
    }
}
