import Synchronization

/// Long-lived responses (event streams, followed logs) open at once per token
/// (`max_streams_per_token`; callers without a token share one count). They take no request slot,
/// since they last for hours, so they are bounded here instead: past the limit, 429. A stream
/// counts until its response ends, which it does as soon as its client goes (`ClientHangUp`).
final class StreamLimiter: Sendable {
    /// One open stream; the count goes down when it is released.
    final class Lease: Sendable {
        private let limiter: StreamLimiter
        private let caller: String

        fileprivate init(_ limiter: StreamLimiter, _ caller: String) {
            self.limiter = limiter
            self.caller = caller
        }

        deinit { limiter.release(caller) }
    }

    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    func acquire(_ caller: String) throws(APIError) -> Lease {
        let admitted = open.withLock { open in
            guard open[caller, default: 0] < limit else { return false }
            open[caller, default: 0] += 1
            return true
        }
        guard admitted else {
            throw APIError(
                .tooManyRequests,
                "'\(caller)' has \(limit) event streams and followed logs open (max_streams_per_token); close one first",
                headers: [.retryAfter: "15"]
            )
        }
        return Lease(self, caller)
    }

    func openStreams(_ caller: String) -> Int { open.withLock { $0[caller, default: 0] } }

    private func release(_ caller: String) {
        open.withLock { open in
            let left = open[caller, default: 1] - 1
            open[caller] = left > 0 ? left : nil
        }
    }
}
