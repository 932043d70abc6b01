import CorralCore
import Foundation
import Hummingbird
import CorralPlatform

/// What the dashboard shows besides sessions: the LiveKit workers, and the last hour's activity.
struct OperatorRoutes: Sendable {
    let workers: LiveKitWorkers?
    let activity: ActivityRecorder

    /// `GET /api/livekit/workers`: each worker's connection, status, load and jobs.
    @Sendable func livekitWorkers(_ request: Request, context: CorralRequestContext) async throws -> Response {
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        writer.key("workers")
        writer.beginArray()
        for worker in await workers?.snapshots ?? [] {
            writer.beginObject()
            writer.key("agent_name")
            writer.string(worker.agentName)
            writer.key("available")
            writer.bool(worker.available)
            writer.key("connected")
            writer.bool(worker.connection.connected)
            writer.key("jobs")
            writer.integer(worker.jobs)
            writer.key("last_error")
            if let error = worker.connection.lastError { writer.string(error) } else { writer.null() }
            writer.key("load")
            writer.number(worker.load)
            writer.key("max_jobs")
            writer.integer(worker.maxJobs)
            writer.key("phase")
            writer.string(worker.connection.phase.rawValue)
            writer.key("profile")
            writer.string(worker.profile)
            writer.key("worker_id")
            if let id = worker.connection.workerID { writer.string(id) } else { writer.null() }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return JSONBody.response(writer)
    }

    /// `GET /api/activity`: active sessions and jobs, minute by minute, over the last hour.
    @Sendable func activity(_ request: Request, context: CorralRequestContext) async throws -> Response {
        // The current minute as of now, not as of the last sample.
        await activity.sample(at: Date())
        var writer = JSONWriter(capacity: 4096)
        writer.beginObject()
        writer.key("minutes")
        writer.beginArray()
        for (start, counts) in activity.lastHour() {
            writer.beginObject()
            writer.key("jobs")
            if let counts { writer.integer(counts.jobs) } else { writer.null() }
            writer.key("sessions")
            if let counts { writer.integer(counts.sessions) } else { writer.null() }
            writer.key("start")
            writer.string(RFC3339.string(start))
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return JSONBody.response(writer)
    }
}
