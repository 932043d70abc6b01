import Synchronization

/// The outcome of a task that may never finish: a hung end must fail a test, not hang the run.
public enum Eventually {
    /// The result of `task`, or nil if it has none within `timeout`.
    public static func result<T: Sendable>(of task: Task<T, any Error>, within timeout: Duration = .seconds(20)) async -> Result<T, any Error>? {
        let answer = FirstAnswer<Result<T, any Error>?>()
        return await withCheckedContinuation { continuation in
            answer.set(continuation)
            Task { answer.give(await task.result) }
            Task {
                try? await Task.sleep(for: timeout)
                answer.give(nil)
            }
        }
    }
}

/// Resumes a continuation with the first value given; later ones are dropped.
private final class FirstAnswer<Value: Sendable>: Sendable {
    private let pending = Mutex<CheckedContinuation<Value, Never>?>(nil)

    func set(_ continuation: CheckedContinuation<Value, Never>) {
        pending.withLock { $0 = continuation }
    }

    func give(_ value: Value) {
        pending.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}
