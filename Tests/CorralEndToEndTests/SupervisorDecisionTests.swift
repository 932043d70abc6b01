import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralStore

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's decisions at the moments that are hard to reach with real agents, driven
/// without processes: a `FakeContainment` starts nothing, a `FaultyStore` fails or holds writes.
/// (A DELETE during a start whose record fails, and shutdown during a store outage, run both with
/// and without processes in `StoreFailureTests`.)
@Suite("Supervisor decisions, without processes")
struct SupervisorDecisionTests {
    static func harness() -> SupervisorHarness {
        SupervisorHarness { $0.graceSeconds = 0.2 }
    }

    @Test func anExitSeenWhileTheSpawnIsReturningEndsTheSession() async throws {
        let store = FaultyStore()
        let containment = FakeContainment()
        _ = try await Self.harness().run(store: store, containment: containment) { supervisor in
            let id = SessionID("fake-early-exit")!
            let events = supervisor.events.subscribe()
            containment.holdLaunches()
            let start = Task { try await supervisor.start(StartRequest(sessionID: id)) }
            #expect(await ProcessProbe.waitUntil { containment.isHeld(id) })
            // The leader is registered and exits before the spawn has returned to the supervisor.
            containment.tree(id)?.exit(.exited(code: 3))
            containment.releaseLaunch(id)
            _ = await Eventually.result(of: start)
            let ended = Task { () throws -> EndReason? in
                for await event in events where event.sessionID == id {
                    if case .ended(let ended) = event.payload { return ended.reason }
                }
                return nil
            }
            #expect((try? await Eventually.result(of: ended, within: .seconds(10))?.get()) == .exited(.exited(code: 3)))
            #expect(await ProcessProbe.waitUntil { await supervisor.session(id) == nil })
        }
    }

    @Test func startsBeyondCapacityAreRefusedWhileOthersAreStillStarting() async throws {
        let store = FaultyStore()
        let containment = FakeContainment()
        let harness = SupervisorHarness { $0.maxSessions = 1 }
        _ = try await harness.run(store: store, containment: containment) { supervisor in
            store.hold(.insert)
            let first = Task { try await supervisor.start(StartRequest(sessionID: SessionID("fake-first")!)) }
            #expect(await ProcessProbe.waitUntil { store.heldCount(.insert) == 1 })
            await #expect(throws: CorralError.self) { try await supervisor.start(StartRequest(sessionID: SessionID("fake-second")!)) }
            store.release(.insert)
            #expect(await Eventually.result(of: first).map { (try? $0.get()) != nil } == true)
        }
    }

    @Test func aSessionIgnoringTermIsKilledAfterItsGrace() async throws {
        let containment = FakeContainment()
        _ = try await Self.harness().run(store: FaultyStore(), containment: containment) { supervisor in
            let session = try await supervisor.start(StartRequest(sessionID: SessionID("fake-stubborn")!))
            containment.tree(session.id)?.ignoreTerm()
            let result = try await supervisor.end(session.id)
            #expect(result.outcome == .killed)
            #expect(containment.tree(session.id)?.signals.contains(SIGKILL) == true)
        }
    }

    /// Releasing a tree removes its cgroup, which retries and sleeps while the kernel calls it
    /// busy: the supervisor keeps answering meanwhile, and the end is answered once it is done.
    @Test func aSlowReleaseDoesNotStopTheSupervisor() async throws {
        let containment = FakeContainment()
        _ = try await Self.harness().run(store: FaultyStore(), containment: containment) { supervisor in
            let id = SessionID("fake-slow-release")!
            _ = try await supervisor.start(StartRequest(sessionID: id))
            let tree = try #require(containment.tree(id))
            tree.holdRelease()
            let end = Task { try await supervisor.end(id) }
            #expect(await ProcessProbe.waitUntil { tree.isReleasing })
            let answer = await Eventually.result(of: Task { await supervisor.allSessions().count }, within: .seconds(10))
            #expect(answer != nil, "the supervisor did not answer while a tree was being released")
            if answer != nil {
                #expect(await supervisor.session(id) != nil, "the session left before its tree was released")
            }
            tree.finishRelease()
            #expect((try? await Eventually.result(of: end)?.get())?.reason == .deleted)
        }
    }
}
