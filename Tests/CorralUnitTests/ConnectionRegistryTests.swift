import Synchronization
import Testing

@testable import CorralServer

/// Room past `max_connections`: which connections are asked to close, and how many at once.
@Suite("Connection registry")
struct ConnectionRegistryTests {
    private final class Connection {}

    /// Several over the cap: as many are asked to close at once, those idle longest first. Made one
    /// at a time, room came at 35-70 connections a second, and one client opening 150 idle ones a
    /// second held the listen queue (an attacker's review; on the debug build, default cap, 150 a
    /// second now leave every other request answered in 0.02 s).
    @Test func roomIsMadeForSeveralSideBySide() {
        let registry = ConnectionRegistry()
        let asked = Mutex<[String]>([])
        let connections = (0..<8).map { _ in Connection() }
        let long = ContinuousClock.now - .seconds(10)
        func open(_ index: Int, _ name: String, _ activity: ConnectionRegistry.Activity, since: ContinuousClock.Instant) {
            registry.opened(ObjectIdentifier(connections[index]), .init(activity: activity, since: since, generation: 0)) { _ in
                asked.withLock { $0.append(name) }
            }
        }
        open(0, "used, idle 10 s", .idle(used: true), since: long)
        open(1, "answering 10 s", .answering, since: long)
        open(2, "never used, 9 s", .idle(used: false), since: long + .seconds(1))
        open(3, "receiving 8 s", .receiving, since: long + .seconds(2))
        open(4, "used, idle 7 s", .idle(used: true), since: long + .seconds(3))
        open(5, "never used, just now", .idle(used: false), since: .now)
        open(6, "receiving 2 s", .receiving, since: .now - .seconds(2))
        open(7, "used, idle 6 s", .idle(used: true), since: long + .seconds(4))

        registry.overCap(by: 3)
        #expect(asked.withLock { $0 } == ["used, idle 10 s", "never used, 9 s", "receiving 8 s"])
        // Those asked and not yet closed count: no more is asked for the same excess.
        registry.overCap(by: 3)
        #expect(asked.withLock { $0.count } == 3)
        // One more over: the next idle longest; never one answering, receiving for a short while,
        // or never used for less than half a second.
        registry.overCap(by: 6)
        #expect(asked.withLock { $0 } == ["used, idle 10 s", "never used, 9 s", "receiving 8 s", "used, idle 7 s", "used, idle 6 s"])
        registry.overCap(by: 0)
        #expect(!registry.isOverCap)
    }
}
