import CorralCore

extension AsyncStream where Element == CorralEvent {
    /// The `session.ended` events of `sessions` (by id) this subscription brings, read until all
    /// have come or `timeout` has passed (an end published before the caller looks is in the
    /// subscription already; the wait is bounded all the same).
    public func ends(of sessions: Set<String>, timeout: Duration = .seconds(15)) async -> [String: CorralEvent.Ended] {
        let reading = Task { () -> [String: CorralEvent.Ended] in
            var ends: [String: CorralEvent.Ended] = [:]
            for await event in self where sessions.contains(event.sessionID.rawValue) {
                if case .ended(let ended) = event.payload { ends[event.sessionID.rawValue] = ended }
                if ends.count == sessions.count { break }
            }
            return ends
        }
        let bound = Task {
            try? await Task.sleep(for: timeout)
            reading.cancel()
        }
        defer { bound.cancel() }
        return await reading.value
    }
}
