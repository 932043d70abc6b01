import LiveKitWorkerProtocol
import Synchronization

/// Passes a connection's calls on to the worker it is made for: the connection exists before
/// the worker that holds it, so the worker is set once both are made.
final class DelegateForwarder: WorkerConnectionDelegate {
    let target = Mutex<LiveKitWorker?>(nil)

    private var worker: LiveKitWorker? { target.withLock { $0 } }

    func registered(workerID: String, serverInfo: Livekit_ServerInfo) async -> [String] {
        await worker?.registered(workerID: workerID, serverInfo: serverInfo) ?? []
    }

    func availability(_ request: Livekit_AvailabilityRequest) async -> Livekit_AvailabilityResponse {
        guard let worker else {
            var response = Livekit_AvailabilityResponse()
            response.jobID = request.job.id
            return response
        }
        return await worker.availability(request)
    }

    func assignment(_ assignment: Livekit_JobAssignment) async { await worker?.assignment(assignment) }

    func termination(jobID: String) async { await worker?.termination(jobID: jobID) }

    func disconnected(reason: String) async { await worker?.disconnected(reason: reason) }
}
