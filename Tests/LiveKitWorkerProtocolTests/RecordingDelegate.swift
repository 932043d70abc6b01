import LiveKitWorkerProtocol

/// A worker's side of the tests: answers offers by room name (`decline-…` unavailable,
/// `terminate-…` terminate, anything else accepted as `agent-<job id>`), reports the jobs the
/// test says run, and records what the connection handed it.
actor RecordingDelegate: WorkerConnectionDelegate {
    private(set) var registrations: [String] = []
    private(set) var offers: [Livekit_AvailabilityRequest] = []
    private(set) var assignments: [Livekit_JobAssignment] = []
    private(set) var terminations: [String] = []
    private(set) var disconnects: [String] = []
    var runningJobs: [String] = []

    func setRunningJobs(_ ids: [String]) { runningJobs = ids }

    func registered(workerID: String, serverInfo: Livekit_ServerInfo) async -> [String] {
        registrations.append(workerID)
        return runningJobs
    }

    func availability(_ request: Livekit_AvailabilityRequest) async -> Livekit_AvailabilityResponse {
        offers.append(request)
        let room = request.job.room.name
        return .with {
            $0.available = !room.hasPrefix("decline-") && !room.hasPrefix("terminate-")
            $0.terminate = room.hasPrefix("terminate-")
            $0.participantIdentity = "agent-\(request.job.id)"
            $0.participantName = "Corral Agent"
            $0.participantAttributes = ["corral.profile": "test"]
        }
    }

    func assignment(_ assignment: Livekit_JobAssignment) async {
        assignments.append(assignment)
    }

    func termination(jobID: String) async {
        terminations.append(jobID)
    }

    func disconnected(reason: String) async {
        disconnects.append(reason)
    }
}
