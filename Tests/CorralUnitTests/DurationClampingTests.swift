import CorralPlatform
import Testing

/// Timers are set from dates corral may not have chosen (a record another node wrote): a span
/// too long for `Duration.seconds`, which traps past about 10^20 s, waits the longest wait instead.
@Suite("Durations from seconds")
struct DurationClampingTests {
    @Test func spansAreClampedToZeroAndTheLongestWait() {
        #expect(Duration.seconds(clamping: 2.5) == .milliseconds(2500))
        #expect(Duration.seconds(clamping: -3) == .zero)
        #expect(Duration.seconds(clamping: .nan) == .zero)
        #expect(Duration.seconds(clamping: 1e30) == .longestWait)
        #expect(Duration.seconds(clamping: .infinity) == .longestWait)
        #expect(Duration.longestWait == .seconds(1_000_000_000))
    }
}
