import CCorralShims
import Foundation

/// A few threads of corral's own for the steps of starting and ending agents that block in the
/// kernel: cgroup creation, limit writes and removal, the clone and the wait until the child has
/// called execve, the wait for an abandoned child. Never the supervisor actor (it would stop
/// every other session's work meanwhile) and never the Swift concurrency pool (two threads on
/// this machine, needed by timers and requests). Jobs are taken in order by whichever thread is
/// free, so spawns run side by side.
public final class SpawnExecutor: Sendable {
    public static let shared = SpawnExecutor(threads: 4)

    private typealias Job = @Sendable () -> Void

    private final class Queue: @unchecked Sendable {
        // Guarded by `condition`.
        let condition = NSCondition()
        var jobs: [Job] = []
        var head = 0
        var whenIdle: [Job] = []
    }

    private let queue = Queue()

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [queue] in
                Syscall.nameCurrentThread("corral-spawn-\(index)")
                // A clone wakes this thread when the child has called execve; with the default
                // slice the new agent kept the CPU for about 1 ms first (short_slice.c).
                _ = corral_thread_shorten_slice()
                Self.work(queue)
            }
            thread.start()
        }
    }

    /// Runs `work` on one of the executor's threads and returns its result.
    public func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            enqueue {
                do throws(E) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Runs `work` on one of the executor's threads once they have had nothing to do for
    /// `idleDelay`, without waiting for it: for what can be made ready for the next start once
    /// this one has been answered. Asked for by a job of the executor's: its thread, done with
    /// the job, runs `work` when its wait for the next one times out, so nothing is woken for it
    /// meanwhile (run at once, it took a second thread and a CPU while the start was still
    /// going on).
    public func whenIdle(_ work: @escaping @Sendable () -> Void) {
        queue.condition.lock()
        queue.whenIdle.append(work)
        queue.condition.unlock()
    }

    static let idleDelay: TimeInterval = 0.01

    private func enqueue(_ job: @escaping Job) {
        queue.condition.lock()
        queue.jobs.append(job)
        queue.condition.signal()
        queue.condition.unlock()
    }

    private static func work(_ queue: Queue) {
        while true {
            queue.condition.lock()
            while queue.head == queue.jobs.count {
                if queue.whenIdle.isEmpty {
                    queue.condition.wait()
                } else if !queue.condition.wait(until: Date(timeIntervalSinceNow: idleDelay)), queue.head == queue.jobs.count {
                    let idle = queue.whenIdle
                    queue.whenIdle = []
                    queue.condition.unlock()
                    idle.forEach { $0() }
                    queue.condition.lock()
                }
            }
            let job = queue.jobs[queue.head]
            queue.head += 1
            // Taken jobs are dropped once the queue is empty (or has grown long), so the array
            // does not keep every job ever run.
            if queue.head == queue.jobs.count || queue.head >= 1024 {
                queue.jobs.removeFirst(queue.head)
                queue.head = 0
            }
            queue.condition.unlock()
            job()
        }
    }
}
