import Foundation

/// Starts and ends spaced the way calls arrive (one every `every`), not back to back: each then
/// finds corral's threads asleep, so every hop between them costs a wake-up.
extension Scenarios {
    static func spacedStart(_ corral: BenchCorral, cycles: Int, every: Duration) async throws -> Distribution {
        var samples: [Double] = []
        for index in 0..<cycles {
            // Idle before the start too: right behind the last cycle's end, its caches were warm.
            try await Task.sleep(for: every)
            samples.append(try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "trivial", "session_id": "spaced-\#(index)"}"#, expect: 201))
            try await Task.sleep(for: every)
            _ = try await corral.request(.DELETE, "/api/sessions/spaced-\(index)")
        }
        return Distribution(samples)
    }

    static func spacedEnd(_ corral: BenchCorral, cycles: Int, every: Duration) async throws -> Distribution {
        var samples: [Double] = []
        for index in 0..<cycles {
            _ = try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "cooperative", "session_id": "spaced-end-\#(index)"}"#, expect: 201)
            try await waitForProcesses(corral, "spaced-end-\(index)", count: 2)
            try await Task.sleep(for: every)
            samples.append(try await corral.timed(.DELETE, "/api/sessions/spaced-end-\(index)", expect: 200))
        }
        return Distribution(samples)
    }

    /// GET /healthz spaced the same way: the HTTP floor of this corral on this host (a request
    /// that touches no session).
    static func spacedHealth(_ corral: BenchCorral, cycles: Int, every: Duration) async throws -> Distribution {
        var samples: [Double] = []
        for _ in 0..<cycles {
            let next = ContinuousClock.now + every
            samples.append(try await corral.timed(.GET, "/healthz", expect: 200))
            try await Task.sleep(until: next, clock: .continuous)
        }
        return Distribution(samples)
    }
}
