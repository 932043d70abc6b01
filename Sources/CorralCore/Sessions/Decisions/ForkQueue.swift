/// The fork requests of one template: at most `bound` admitted at once (a start past it gets
/// 503), and one sent at a time, the others waiting in the order they became ready to send (each
/// is prepared first: its log and cgroups made). One at a time because a template forks one child
/// after another anyway: the bound on an answer then measures the template, never the queue in
/// front of a request. A value: requests in, which one to send out (`ForkQueueTests`).
struct ForkQueue: Equatable {
    /// Requests that may be admitted at once (`template.max_queued_forks`).
    let bound: Int
    /// Admitted and not finished: preparing, waiting for the slot, or sent.
    private(set) var admitted: Set<UInt64> = []
    /// Prepared and waiting for the slot, in the order they became ready.
    private(set) var ready: [UInt64] = []
    /// The request sent and not answered yet.
    private(set) var inFlight: UInt64?

    init(bound: Int) {
        self.bound = max(1, bound)
    }

    /// Admits `id` unless `bound` requests are admitted already.
    mutating func admit(_ id: UInt64) -> Bool {
        guard admitted.count < bound else { return false }
        admitted.insert(id)
        return true
    }

    /// When a prepared request may be sent.
    enum Turn: Equatable {
        /// Now: it holds the slot.
        case now
        /// Once the request in flight is done (`finished` names it).
        case later
        /// Never: it is not admitted (any more: the queue was drained).
        case dropped
    }

    /// `id` is prepared (its log and cgroups made).
    mutating func prepared(_ id: UInt64) -> Turn {
        guard admitted.contains(id) else { return .dropped }
        if inFlight == id { return .now }
        if !ready.contains(id) { ready.append(id) }
        return sendNext() == id ? .now : .later
    }

    /// `id` is done (answered, failed, or given up before it was sent): returns the request
    /// to send next, if the slot came free.
    mutating func finished(_ id: UInt64) -> UInt64? {
        admitted.remove(id)
        ready.removeAll { $0 == id }
        if inFlight == id { inFlight = nil }
        return sendNext()
    }

    /// The template is gone: every request not sent leaves the queue (they are started another
    /// way) and is returned; the one in flight gets its answer (a failure) from the channel.
    mutating func drain() -> [UInt64] {
        let waiting = admitted.subtracting(inFlight.map { [$0] } ?? []).sorted()
        admitted = inFlight.map { [$0] } ?? []
        ready = []
        return waiting
    }

    /// Requests admitted and not yet sent.
    var waiting: Int { admitted.count - (inFlight == nil ? 0 : 1) }

    private mutating func sendNext() -> UInt64? {
        guard inFlight == nil, !ready.isEmpty else { return nil }
        let next = ready.removeFirst()
        inFlight = next
        return next
    }
}
