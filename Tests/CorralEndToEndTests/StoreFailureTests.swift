import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// What the supervisor does when the store fails or is slow at the worst moment, with a store
/// that fails or holds operations on demand, and real agents or (where the decision alone is at
/// stake) a containment that starts no process.
@Suite("Store failures at the worst moment")
struct StoreFailureTests {
    enum Agents: String, CaseIterable, Sendable {
        case processes, fake

        var containment: any Containment { self == .fake ? FakeContainment() : ProcessGroupContainment() }
    }

    @Test(arguments: Agents.allCases)
    func anEndAskedForDuringAStartWhoseRecordFailsIsAnswered(agents: Agents) async throws {
        let store = FaultyStore()
        let containment = agents.containment
        let left = try await SupervisorHarness().run(store: store, containment: containment) { supervisor in
            let id = SessionID("insert-fails")!
            store.hold(.insert)
            let start = Task { try await supervisor.start(StartRequest(sessionID: id)) }
            #expect(await ProcessProbe.waitUntil { store.heldCount(.insert) == 1 })
            let end = Task { try await supervisor.end(id) }
            #expect(await ProcessProbe.waitUntil { await supervisor.session(id)?.status == .stopping })
            store.fail(.insert)
            store.release(.insert)

            let started = await Eventually.result(of: start)
            #expect(started.map { (try? $0.get()) == nil } == true, "the start should have failed: its record could not be written")
            let ended = await Eventually.result(of: end)
            #expect(ended != nil, "the DELETE during the failed start was never answered")
            #expect((try? ended?.get())?.sessionID == id)
            #expect((try? ended?.get())?.reason == .deleted, "the end is answered with the reason it was asked for")
            #expect(await supervisor.session(id) == nil)
            if let fake = containment as? FakeContainment {
                #expect(fake.tree(id) == nil, "nothing was spawned for a session that was never recorded")
            }
        }
        #expect(left.isEmpty)
    }

    @Test func anEndAskedForDuringAStartWhoseSpawnFailsIsAnswered() async throws {
        let store = FaultyStore()
        let harness = SupervisorHarness { configuration in
            var profile = configuration.agents["sleeper"]!
            profile.workingDirectory = "/nonexistent-corral-test-directory"
            configuration.agents["no-cwd"] = profile
        }
        let left = try await harness.run(store: store) { supervisor in
            let id = SessionID("spawn-fails")!
            store.hold(.insert)
            let start = Task { try await supervisor.start(StartRequest(agent: "no-cwd", sessionID: id)) }
            #expect(await ProcessProbe.waitUntil { store.heldCount(.insert) == 1 })
            let end = Task { try await supervisor.end(id) }
            #expect(await ProcessProbe.waitUntil { await supervisor.session(id)?.status == .stopping })
            store.release(.insert)

            let started = await Eventually.result(of: start)
            #expect(started.map { (try? $0.get()) == nil } == true, "the start should have failed to spawn")
            let ended = await Eventually.result(of: end)
            #expect(ended != nil, "the DELETE during the failed spawn was never answered")
            // The record written before the spawn is removed.
            #expect(await ProcessProbe.waitUntil { await store.backing.record(id) == nil })
        }
        #expect(left.isEmpty)
    }

    @Test(arguments: Agents.allCases)
    func shutdownDuringAStoreOutageEndsEverySession(agents: Agents) async throws {
        let store = FaultyStore()
        let containment = agents.containment
        let left = try await SupervisorHarness().run(store: store, containment: containment) { supervisor in
            let running = try await supervisor.start(StartRequest(sessionID: SessionID("before-outage")!))
            store.hold(.insert)
            let start = Task { try await supervisor.start(StartRequest(sessionID: SessionID("during-outage")!)) }
            #expect(await ProcessProbe.waitUntil { store.heldCount(.insert) == 1 })
            let shutdown = Task { () throws -> Void in await supervisor.shutdown() }
            #expect(await ProcessProbe.waitUntil { await supervisor.session(running.id)?.status != .running })
            store.fail(.insert, .update, .delete)
            store.release(.insert)

            _ = await Eventually.result(of: start)
            #expect(await Eventually.result(of: shutdown) != nil, "shutdown never finished")
            #expect(await supervisor.allSessions().isEmpty)
            if let fake = containment as? FakeContainment {
                #expect(fake.tree(running.id)?.isEmpty == true, "the running session's processes were ended")
            }
            store.recover()
        }
        #expect(left.isEmpty)
    }

    /// The re-synchronisation after an outage writes a live session's record; if the session
    /// ends while that write is slow, its delete must land after it, not before.
    @Test func aRecordDeletedDuringResynchronisationStaysDeleted() async throws {
        let store = FaultyStore()
        let left = try await SupervisorHarness().run(store: store) { supervisor in
            let id = SessionID("resync-race")!
            _ = try await supervisor.start(StartRequest(sessionID: id))
            store.fail(.ping)
            #expect(await supervisor.readinessProblem() != nil)
            store.holdNext(.update)
            store.succeed(.ping)
            // The store answers again: the recovery loop writes the session's record (held).
            #expect(await ProcessProbe.waitUntil { store.heldCount(.update) == 1 })
            let end = Task { try await supervisor.end(id) }
            // Without ordering, the end's delete reaches the store while the write is held.
            _ = await ProcessProbe.waitUntil(timeout: .seconds(2)) { store.calls(.delete).contains(id) }
            // The store flaps: the clean-up pass after the re-synchronisation cannot read it, so
            // only the order of the writes keeps the record deleted.
            store.fail(.read)
            store.release(.update)
            #expect(await Eventually.result(of: end) != nil)
            #expect(await ProcessProbe.waitUntil { store.calls(.delete).contains(id) })
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(3)) { await store.backing.record(id) == nil }, "the deleted record came back")
            store.succeed(.read)
        }
        #expect(left.isEmpty)
    }
}
