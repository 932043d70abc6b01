import Dispatch
import GRDB
import Synchronization

/// What one background checkpoint found: the frames in the log, and how many of them are now in
/// the database file.
public struct CheckpointPass: Sendable {
    /// Counts the passes that succeeded, from 1.
    public var number: Int
    public var walFrameCount: Int
    public var checkpointedFrameCount: Int
}

/// Copies the SQLite write-ahead log back into the database file once a second, on a connection
/// and a thread of its own.
///
/// Left to SQLite, the checkpoint runs inside whichever commit takes the log past its threshold
/// (1,000 pages): three `fdatasync` calls, up to 13 ms on this disk, added to about one session
/// start in a hundred. A passive checkpoint from another connection does that work alongside the
/// writer and the readers instead of in front of them.
///
/// The log can only start over when a pass has copied every frame and no write came in
/// meanwhile. Under writes that never pause, that moment does not come, so the writer keeps
/// SQLite's own checkpoint as a backstop at a higher threshold: when it fires, the passes have
/// already copied all but the last second's frames.
final class WALCheckpointer: @unchecked Sendable {
    // @unchecked: the timer is set once in init and only cancelled after; the rest is Sendable.
    private let connection: DatabaseQueue
    private let timer: any DispatchSourceTimer
    private let last = Mutex<CheckpointPass?>(nil)

    /// The last pass that succeeded, if any.
    var lastPass: CheckpointPass? { last.withLock { $0 } }

    init(path: String, interval: DispatchTimeInterval = .seconds(1)) throws {
        var configuration = Configuration()
        configuration.label = "corral.checkpoint"
        connection = try DatabaseQueue(path: path, configuration: configuration)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "corral.checkpoint", qos: .utility))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.pass() }
        timer.resume()
    }

    deinit {
        timer.cancel()
    }

    /// One passive checkpoint: copies what no reader still needs, never waits for a lock.
    /// A failed pass (the disk full, the file busy) is retried a second later; meanwhile the
    /// writer's own threshold keeps the log from growing without end.
    private func pass() {
        guard let (wal, checkpointed) = try? connection.writeWithoutTransaction({ db in try db.checkpoint(.passive) }) else {
            return
        }
        last.withLock { $0 = CheckpointPass(number: ($0?.number ?? 0) + 1, walFrameCount: wal, checkpointedFrameCount: checkpointed) }
    }
}
