/// What a worker does with what LiveKit server sends it. A `WorkerConnection` calls these; it
/// knows nothing of what a job is to its user.
///
/// Calls arrive in the order the server sent the messages, one at a time, except
/// `availability`, which runs concurrently with everything else (each answer is sent when its
/// call returns). A call that takes long holds up the later ones (not the socket's pings), so
/// `assignment` and `termination` should start the work and return. A delegate is typically an
/// actor; one delegate may serve several connections.
public protocol WorkerConnectionDelegate: Sendable {
    /// The server accepted the worker as `workerID` (a new id on every connection). Returns the
    /// ids of the jobs this worker still runs, which the connection reports in `migrate_job`, as
    /// LiveKit's own worker does after a reconnect (nothing is sent when there are none).
    func registered(workerID: String, serverInfo: Livekit_ServerInfo) async -> [String]

    /// Can this worker take the job? The answer is sent as soon as this returns; its `jobID` is
    /// set to the request's job. LiveKit server waits about 10 s for it.
    func availability(_ request: Livekit_AvailabilityRequest) async -> Livekit_AvailabilityResponse

    /// The job this worker accepted is its to run: the job (room, participant), the room token
    /// LiveKit minted for the agent, and the URL to join (empty: the URL the worker connected to).
    func assignment(_ assignment: Livekit_JobAssignment) async

    /// The server asks the worker to end a job.
    func termination(jobID: String) async

    /// The connection failed or dropped (`reason` says how); it is retried with backoff. Jobs
    /// keep running: after the next registration `registered` is asked for them again.
    func disconnected(reason: String) async
}
