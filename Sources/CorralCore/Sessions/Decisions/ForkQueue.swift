/// The fork requests of one template: at most `bound` admitted at once (a start past it gets
/// 503), and at most `sendsAtOnce` sent and unanswered, the others waiting in the order they
/// became ready to send (each is prepared first: its log and cgroups made). Several are sent at
/// once because a child's first move into its cgroups waits for the kernel (an RCU grace period,
/// tens of milliseconds on some hosts) and children placing themselves at the same time share
/// that wait; a template that forks one child after another answers them in turn. Few, so that
/// the bound on an answer still measures the template rather than a queue inside it. A value:
/// requests in, which one to send out (`ForkQueueTests`).
struct ForkQueue: Equatable {
    /// Requests a template is sent before their answers, by default.
    static let sendsAtOnce = 4

    /// Requests that may be admitted at once (`template.max_queued_forks`).
    let bound: Int
    /// Requests that may be sent and unanswered at once.
    let sendsAtOnce: Int
    /// Admitted and not finished: preparing, waiting for a slot, or sent.
    private(set) var admitted: Set<UInt64> = []
    /// Prepared and waiting for a slot, in the order they became ready.
    private(set) var ready: [UInt64] = []
    /// The requests sent and not answered yet.
    private(set) var inFlight: Set<UInt64> = []

    init(bound: Int, sendsAtOnce: Int = ForkQueue.sendsAtOnce) {
        self.bound = max(1, bound)
        self.sendsAtOnce = max(1, sendsAtOnce)
    }

    /// Admits `id` unless `bound` requests are admitted already.
    mutating func admit(_ id: UInt64) -> Bool {
        guard admitted.count < bound else { return false }
        admitted.insert(id)
        return true
    }

    /// When a prepared request may be sent.
    enum Turn: Equatable {
        /// Now: it holds a slot.
        case now
        /// Once a request in flight is done (`finished` names it).
        case later
        /// Never: it is not admitted (any more: the queue was drained).
        case dropped
    }

    /// `id` is prepared (its log and cgroups made).
    mutating func prepared(_ id: UInt64) -> Turn {
        guard admitted.contains(id) else { return .dropped }
        if inFlight.contains(id) { return .now }
        if !ready.contains(id) { ready.append(id) }
        // Requests wait only while every slot is taken, so the one sent now, if any, is `id`.
        return sendNext() == id ? .now : .later
    }

    /// `id` is done (answered, failed, or given up before it was sent): returns the request
    /// to send next, if a slot came free.
    mutating func finished(_ id: UInt64) -> UInt64? {
        admitted.remove(id)
        ready.removeAll { $0 == id }
        inFlight.remove(id)
        return sendNext()
    }

    /// The template is gone: every request not sent leaves the queue (they are started another
    /// way) and is returned; those in flight get their answers (failures) from the channel.
    mutating func drain() -> [UInt64] {
        let waiting = admitted.subtracting(inFlight).sorted()
        admitted = inFlight
        ready = []
        return waiting
    }

    /// Requests admitted and not yet sent.
    var waiting: Int { admitted.count - inFlight.count }

    private mutating func sendNext() -> UInt64? {
        guard inFlight.count < sendsAtOnce, !ready.isEmpty else { return nil }
        let next = ready.removeFirst()
        inFlight.insert(next)
        return next
    }
}
