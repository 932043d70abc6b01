import Foundation
import Logging

extension WorkerConnection {
    /// Hands the server's messages to the delegate, in order; availability requests run
    /// concurrently, each answered on this connection when the delegate returns.
    nonisolated func dispatch(_ events: AsyncStream<Livekit_ServerMessage>, linkID: Int) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            var registered = false
            for await event in events {
                switch event.message {
                case .register(let response):
                    guard !registered else {
                        logger.warning("LiveKit sent a second registration answer (worker \(response.workerID)); ignored")
                        continue
                    }
                    registered = true
                    await didRegister(response, linkID: linkID)
                case let message where !registered:
                    throw WorkerConnectionError.notRegistered(firstMessage: Self.name(of: message))
                case .availability(let request):
                    group.addTask {
                        var answer = await self.delegate.availability(request)
                        answer.jobID = request.job.id
                        await self.enqueue(.with { $0.availability = answer }, on: linkID)
                    }
                case .assignment(let assignment):
                    logger.info("LiveKit assigned job \(assignment.job.id) (room \(assignment.job.room.name))")
                    await delegate.assignment(assignment)
                case .termination(let termination):
                    logger.info("LiveKit asks to end job \(termination.jobID)")
                    await delegate.termination(jobID: termination.jobID)
                case .pong(let pong):
                    await confirmed(through: pong.lastTimestamp, linkID: linkID)
                case nil:
                    // A message of a newer protocol (go_away, …): its fields are unknown to us.
                    logger.debug("ignored a LiveKit message this worker does not know (\(event.unknownFields.data.count) bytes)")
                }
            }
        }
    }

    /// The server accepted the worker: the lifecycle decides whether that still counts (the
    /// attempt may have timed out or been stopped meanwhile).
    func didRegister(_ response: Livekit_RegisterWorkerResponse, linkID: Int) async {
        registration = (linkID, response)
        await handle(.registered(attempt: linkID))
    }

    /// Tells the delegate, reports its running jobs, then sends what was held, and from then on
    /// sends straight away.
    func announce(_ response: Livekit_RegisterWorkerResponse, attempt linkID: Int) async {
        guard link?.id == linkID else { return }
        status.workerID = response.workerID
        status.registeredAt = Date()
        status.registrations += 1
        let server = response.serverInfo
        logger.info(
            "registered with LiveKit as worker \(response.workerID) (server \(server.version.isEmpty ? "of unknown version" : server.version)\(server.region.isEmpty ? "" : ", region \(server.region)"))"
        )
        let jobIDs = await delegate.registered(workerID: response.workerID, serverInfo: server)
        guard var link, link.id == linkID else { return }
        if !jobIDs.isEmpty {
            link.continuation.yield(.with { $0.migrateJob = .with { $0.jobIds = jobIDs } })
            logger.info("reported \(jobIDs.count) running job(s) to LiveKit: \(jobIDs.joined(separator: ", "))")
        }
        for update in outbox.takeJobUpdates() {
            write(update, to: link)
        }
        if let workerStatus = outbox.workerStatus {
            link.continuation.yield(.with { $0.updateWorker = workerStatus })
        }
        link.open = true
        self.link = link
    }

    /// The server answered a ping: what was written before it on this connection was read.
    func confirmed(through stamp: Int64, linkID: Int) {
        guard link?.id == linkID else { return }
        outbox.confirmed(through: stamp)
    }

    private static func name(of message: Livekit_ServerMessage.OneOf_Message?) -> String {
        switch message {
        case .register: "register"
        case .availability: "availability"
        case .assignment: "assignment"
        case .termination: "termination"
        case .pong: "pong"
        case nil: "a message this worker does not know"
        }
    }
}
