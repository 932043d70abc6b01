/// How long a worker waits before it connects again: doubling from `initial` after each failure
/// in a row up to `maximum`, and a random part of that taken off (`jitter` 0.5: between half and
/// all of it), so workers that lost the same server do not all come back at the same instant.
public struct ReconnectBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    /// The share of a delay that is random, 0...1.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay after `failures` (1 or more) failures in a row; `random` is in 0..<1.
    public func delay(afterFailures failures: Int, random: Double) -> Duration {
        var base = initial
        for _ in 1..<max(failures, 1) where base < maximum { base = base * 2 }
        base = min(base, maximum)
        return base * (1 - jitter * min(max(random, 0), 1))
    }

    public func delay(afterFailures failures: Int) -> Duration {
        delay(afterFailures: failures, random: Double.random(in: 0..<1))
    }
}
