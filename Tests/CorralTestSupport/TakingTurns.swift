import Synchronization
import Testing

/// A test trait: the tests of a suite marked `.takingTurns(turns)` run one at a time with every
/// other test marked with the same turns, the rest of the suite going on beside them.
///
/// For the tests that load LiveKit's agent framework (`.livekitAgents`): importing livekit-agents
/// costs 2.4 s of CPU per Python process, and each such test starts several (LiveKit's worker, its
/// forkserver and idle processes, templates, jobs), all in the first minute, when the whole suite
/// starts at once on two cores. That load (averages of 10-15) made them, and time-sensitive tests
/// beside them, miss their deadlines in CI.
public struct TakingTurns: SuiteTrait, TestTrait, TestScoping {
    let turns: Turns

    public var isRecursive: Bool { true }

    /// Each test case takes its turn; a suite itself holds none.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await turns.begin()
        defer { turns.end() }
        try await function()
    }
}

extension Trait where Self == TakingTurns {
    public static func takingTurns(_ turns: Turns) -> Self { TakingTurns(turns: turns) }
}

/// Who runs now, and who waits (first come, first served).
public final class Turns: Sendable {
    /// The tests that load livekit-agents.
    public static let livekitAgents = Turns()

    private let state = Mutex<(taken: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func begin() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                if !state.taken {
                    state.taken = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    func end() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.taken = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
