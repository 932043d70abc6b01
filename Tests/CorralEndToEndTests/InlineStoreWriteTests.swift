import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// SQLite is written on the supervisor's actor when no earlier write of the session is under way
/// (`InlineWritableStore`, issue 25): what the store holds, and what a refused write leads to,
/// are the same as for a write queued to the store's thread.
@Suite("Store writes made on the supervisor")
struct InlineStoreWriteTests {
    @Test func aSessionsRecordsAreWrittenInlineAndHoldWhatItIs() async throws {
        let store = try RefusingSQLiteStore()
        let left = try await SupervisorHarness().run(store: store) { supervisor in
            let id = SessionID("inline-written")!
            let started = try await supervisor.start(StartRequest(sessionID: id))
            #expect(store.inlineCount(.insert) == 1)
            #expect(store.inlineCount(.update) >= 1, "the status write with the pid was queued, not made inline")
            let stored = try #require(try await store.sqlite.record(id))
            #expect(stored.pid == started.pid && stored.pid != nil)
            #expect(stored.leaderStartTime == ProcFS.stat(started.pid!)?.startTime)
            #expect(stored.status == started.status)
            _ = try await supervisor.end(id)
            #expect(store.inlineCount(.delete) >= 1)
            #expect(try await store.sqlite.record(id) == nil)
        }
        #expect(left.isEmpty)
    }

    @Test func aRefusedInlineInsertStartsNothing() async throws {
        let store = try RefusingSQLiteStore()
        let left = try await SupervisorHarness().run(store: store) { supervisor in
            let id = SessionID("inline-refused")!
            store.refuse(.insert)
            await #expect {
                _ = try await supervisor.start(StartRequest(sessionID: id))
            } throws: { error in
                (error as? CorralError)?.code == .unavailable && "\(error)".contains("could not be recorded")
            }
            #expect(await supervisor.session(id) == nil)
            #expect(try await store.sqlite.record(id) == nil)
            store.accept()
            // The store answers again: the same id starts.
            _ = try await supervisor.start(StartRequest(sessionID: id))
            #expect(try await store.sqlite.record(id) != nil)
        }
        #expect(left.isEmpty)
    }

    /// Writes refused on the actor are remembered and made again once the store answers, as
    /// queued ones are: a session that ended meanwhile leaves no record behind.
    @Test func refusedInlineWritesAreMadeAgainOnceTheStoreAnswers() async throws {
        let store = try RefusingSQLiteStore()
        let left = try await SupervisorHarness().run(store: store) { supervisor in
            let id = SessionID("inline-resync")!
            _ = try await supervisor.start(StartRequest(sessionID: id))
            store.refuse(.update, .delete)
            _ = try await supervisor.end(id)
            #expect(await supervisor.session(id) == nil)
            #expect(try await store.sqlite.record(id) != nil, "the delete was refused: the record is still there")
            store.accept()
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { (try? await store.sqlite.record(id)) == nil }, "the record of the ended session was never deleted")
        }
        #expect(left.isEmpty)
    }
}
