/// What a worker has to tell the server while it is not registered: the latest status of each
/// job (a newer one replaces an older one: the server only needs where a job is now), in the
/// order they last changed, and the worker's latest status, which is sent after every
/// registration.
struct Outbox {
    private(set) var jobUpdates: [Livekit_UpdateJobStatus] = []
    var workerStatus: Livekit_UpdateWorkerStatus?

    mutating func hold(_ update: Livekit_UpdateJobStatus) {
        jobUpdates.removeAll { $0.jobID == update.jobID }
        jobUpdates.append(update)
    }

    mutating func takeJobUpdates() -> [Livekit_UpdateJobStatus] {
        defer { jobUpdates.removeAll() }
        return jobUpdates
    }
}
