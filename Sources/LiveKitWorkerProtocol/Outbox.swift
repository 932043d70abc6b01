import Foundation

/// What a worker has to tell the server while it is not registered: the latest status of each
/// job (a newer one replaces an older one: the server only needs where a job is now), in the
/// order they last changed, and the worker's latest status, which is sent after every
/// registration.
///
/// It also keeps the job statuses written to the current connection that the server is not yet
/// known to have read. A connection that drops takes with it what was still in its buffers, and
/// the protocol has no acknowledgement; but the server answers `WorkerPing`s in order, so a pong
/// for a ping written after a status proves the status was read. What is unproven when the
/// connection is lost is held again: a status reported twice is harmless, a lost `JS_SUCCESS`
/// leaves a job running in LiveKit's eyes.
struct Outbox {
    private(set) var jobUpdates: [Livekit_UpdateJobStatus] = []
    var workerStatus: Livekit_UpdateWorkerStatus?
    private var unconfirmed: [(update: Livekit_UpdateJobStatus, stamp: Int64)] = []
    private var lastStamp: Int64 = 0

    mutating func hold(_ update: Livekit_UpdateJobStatus) {
        jobUpdates.removeAll { $0.jobID == update.jobID }
        jobUpdates.append(update)
    }

    mutating func takeJobUpdates() -> [Livekit_UpdateJobStatus] {
        defer { jobUpdates.removeAll() }
        return jobUpdates
    }

    /// `update` is being written to the connection; returns the timestamp of the ping to write
    /// after it (milliseconds since 1970, as LiveKit's own worker stamps them, and increasing).
    mutating func written(_ update: Livekit_UpdateJobStatus, now: Date = Date()) -> Int64 {
        lastStamp = max(lastStamp + 1, Int64(now.timeIntervalSince1970 * 1000))
        unconfirmed.removeAll { $0.update.jobID == update.jobID }
        unconfirmed.append((update, lastStamp))
        return lastStamp
    }

    /// The server answered the ping stamped `stamp`: every status written before it was read.
    mutating func confirmed(through stamp: Int64) {
        unconfirmed.removeAll { $0.stamp <= stamp }
    }

    /// The connection is gone: what it may not have delivered is held for the next one, unless
    /// a newer status of the same job already is.
    mutating func connectionLost() {
        for (update, _) in unconfirmed where !jobUpdates.contains(where: { $0.jobID == update.jobID }) {
            jobUpdates.append(update)
        }
        unconfirmed.removeAll()
    }
}
