import CorralCore
import CorralPlatform
import Foundation
import LiveKitWorkerProtocol
import Logging
import CorralConfiguration
import CorralStore

/// corral as one LiveKit agent worker, for one profile with `livekit_worker`: it registers with
/// the LiveKit server, answers offers, runs each assigned job as a session of the profile (its
/// own process group and cgroup, limits, an end that leaves nothing, prewarmed agents,
/// re-adoption after a crash) and reports the jobs' statuses and its own load. What to accept
/// and what to report is the `WorkerJobBook`'s; this actor carries it out.
actor LiveKitWorker: WorkerConnectionDelegate {
    /// What the dashboard and `/api/livekit/workers` show of a worker.
    struct Snapshot: Sendable {
        let profile: String
        let agentName: String
        let connection: WorkerConnectionState
        let available: Bool
        let load: Double
        let jobs: Int
        let maxJobs: Int
    }

    let profile: String
    let settings: LiveKitWorkerSettings
    let livekit: LiveKitConfiguration
    let supervisor: Supervisor
    let metrics: LiveKitWorkerMetrics
    let logger: Logger
    let statusInterval: Duration
    private let pressure: HostCPUPressure?
    private let connection: WorkerConnection
    private var book: WorkerJobBook
    /// When each accepted job was offered, for the offer-to-running latency.
    private var offeredAt: [String: ContinuousClock.Instant] = [:]
    /// Each accepted job's steps from offer to `JS_RUNNING`, with `CORRAL_PHASE_TIMINGS` (bench/README.md).
    private var traces: [String: PhaseTrace] = [:]
    private var lastStatus: Livekit_UpdateWorkerStatus?
    /// Jobs whose session is being started, and whether LiveKit ended them meanwhile: a
    /// termination that comes before the supervisor has the session finds nothing to end, so it
    /// is carried out once the start returns.
    private var starting: [String: Bool] = [:]
    private var conditions = WorkerJobBook.Conditions()

    /// A worker and its connection (the connection calls the worker back).
    static func make(
        profile: String, settings: LiveKitWorkerSettings, livekit: LiveKitConfiguration, supervisor: Supervisor,
        metrics: LiveKitWorkerMetrics, logger: Logger, statusInterval: Duration = .milliseconds(2500)
    ) throws(CorralError) -> LiveKitWorker {
        var logger = logger
        logger[metadataKey: "livekit_worker"] = "\(profile)"
        let configuration = try WorkerConnectionConfiguration(profile: profile, settings: settings, livekit: livekit, version: "corral")
        let forwarder = DelegateForwarder()
        let worker = LiveKitWorker(
            profile: profile, settings: settings, livekit: livekit, supervisor: supervisor, metrics: metrics, logger: logger,
            statusInterval: statusInterval, connection: WorkerConnection(configuration: configuration, delegate: forwarder, logger: logger)
        )
        forwarder.target.withLock { $0 = worker }
        return worker
    }

    private init(
        profile: String, settings: LiveKitWorkerSettings, livekit: LiveKitConfiguration, supervisor: Supervisor,
        metrics: LiveKitWorkerMetrics, logger: Logger, statusInterval: Duration, connection: WorkerConnection
    ) {
        self.profile = profile
        self.settings = settings
        self.livekit = livekit
        self.supervisor = supervisor
        self.metrics = metrics
        self.logger = logger
        self.statusInterval = statusInterval
        self.connection = connection
        self.pressure = settings.load == .jobsAndCPU ? HostCPUPressure() : nil
        self.book = WorkerJobBook(
            limits: .init(
                maxJobs: settings.maxJobs, loadThreshold: settings.loadThreshold,
                assignmentWait: .seconds(settings.assignmentTimeoutSeconds)
            )
        )
    }

    var snapshot: Snapshot {
        get async {
            Snapshot(
                profile: profile, agentName: settings.agentName, connection: await connection.state,
                available: book.isAvailable(conditions), load: book.load(conditions), jobs: book.activeJobs, maxJobs: settings.maxJobs
            )
        }
    }

    /// Registers and serves until graceful shutdown (or cancellation). Jobs from before a restart
    /// of corral are taken back first, so the first registration reports them.
    func run() async {
        // Sessions from before a restart are adopted while the supervisor prepares.
        do {
            try await supervisor.prepare()
        } catch {
            logger.error("the supervisor could not start; the LiveKit worker does not register", metadata: ["error": "\(error)"])
            return
        }
        for record in await supervisor.jobSessions(of: profile) {
            guard let jobID = record.livekitJobID else { continue }
            book.adopted(jobID, session: record.id, running: record.status == .running)
            logger.notice("a LiveKit job from before the restart runs on", metadata: ["job_id": "\(jobID)", "session": "\(record.id)"])
        }
        await refresh()
        let events = supervisor.events.subscribe()
        let connection = connection
        // The connection ends the worker: on graceful shutdown it closes its socket once what is
        // queued has gone out. The event stream may end first (the supervisor stops before).
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await connection.run()
                return true
            }
            group.addTask {
                for await event in events { await self.observe(event) }
                return false
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: self.statusInterval) } catch { break }
                    await self.tick()
                }
                return false
            }
            while let connectionEnded = await group.next() {
                if connectionEnded { group.cancelAll() }
            }
        }
        metrics.connected(agentName: settings.agentName, false)
    }

    // MARK: What the server sends

    func registered(workerID: String, serverInfo: Livekit_ServerInfo) async -> [String] {
        logger.info("registered with LiveKit", metadata: ["worker_id": "\(workerID)", "agent_name": "\(settings.agentName)"])
        metrics.connected(agentName: settings.agentName, true)
        await refresh(force: true)
        return book.runningJobIDs
    }

    func disconnected(reason: String) async {
        metrics.connected(agentName: settings.agentName, false)
        metrics.reconnect(agentName: settings.agentName)
    }

    func availability(_ request: Livekit_AvailabilityRequest) async -> Livekit_AvailabilityResponse {
        let jobID = request.job.id
        metrics.offered(agentName: settings.agentName)
        conditions = await currentConditions()
        var response = Livekit_AvailabilityResponse()
        response.jobID = jobID
        // Offered again (the server lost the first answer): the answer and the place held stand.
        let askedAgain = book.jobs[jobID] != nil
        switch book.offered(jobID, now: .now, conditions) {
        case .accept:
            guard let session = WorkerJobBook.sessionID(forJob: jobID) else { break }
            if !askedAgain {
                do throws(CorralError) {
                    try await supervisor.reserve(session, agent: profile)
                } catch {
                    _ = book.ended(jobID, reason: .failedToStart)
                    metrics.declined(agentName: settings.agentName)
                    logger.info("declined a LiveKit job", metadata: ["job_id": "\(jobID)", "reason": "\(error.message)"])
                    await refresh()
                    return response
                }
                // Counted, and timed, from the first offer only.
                offeredAt[jobID] = .now
                traces[jobID] = PhaseTrace.begin("livekit job")
                traces[jobID]?.mark("offered")
                metrics.accepted(agentName: settings.agentName)
            }
            response.available = true
            let identity = settings.identity(forJob: jobID)
            response.participantIdentity = identity
            response.participantName = identity
            logger.info("accepted a LiveKit job", metadata: ["job_id": "\(jobID)", "room": "\(request.job.room.name)"])
            traces[jobID]?.mark("accepted")
        case .decline(let why):
            metrics.declined(agentName: settings.agentName)
            logger.info("declined a LiveKit job", metadata: ["job_id": "\(jobID)", "reason": "\(why)"])
        }
        await refresh()
        return response
    }

    func assignment(_ assignment: Livekit_JobAssignment) async {
        let job = assignment.job
        conditions = await currentConditions()
        switch book.assigned(job.id, conditions) {
        case .duplicate:
            return
        case .refuse(let why):
            metrics.failed(agentName: settings.agentName)
            await report(job.id, .failed(why))
        case .start(let session, let reserved):
            let request = startRequest(for: assignment, session: session, reserved: reserved)
            // Started apart: later messages (a termination) must not wait for the spawn.
            starting[job.id] = false
            let trace = traces[job.id]
            trace?.mark("assigned")
            Task { await PhaseTrace.$current.withValue(trace) { await self.start(job.id, request) } }
        }
        await refresh()
    }

    func termination(jobID: String) async {
        guard let session = WorkerJobBook.sessionID(forJob: jobID) else { return }
        logger.info("LiveKit ends a job", metadata: ["job_id": "\(jobID)"])
        if let held = book.terminated(jobID) {
            // Not assigned yet: nothing runs, and the place is free for the next offer now
            // rather than when the wait for its assignment runs out.
            offeredAt[jobID] = nil
            traces[jobID] = nil
            await supervisor.releaseReservation(held)
            await refresh()
            return
        }
        if starting[jobID] != nil { starting[jobID] = true }
        Task { _ = try? await supervisor.end(session, reason: .jobTerminated) }
    }

    // MARK: Jobs

    private func startRequest(for assignment: Livekit_JobAssignment, session: SessionID, reserved: Bool) -> StartRequest {
        let job = assignment.job
        let identity = job.state.participantIdentity.isEmpty ? settings.identity(forJob: job.id) : job.state.participantIdentity
        var request = StartRequest(
            agent: profile, sessionID: session, metadata: ["livekit_job_metadata": job.metadata], livekitRoom: job.room.name,
            livekitIdentity: identity
        )
        request.livekitJob = LiveKitJob(jobID: job.id, dispatchID: job.dispatchID.isEmpty ? nil : job.dispatchID, agentName: job.agentName)
        request.reserved = reserved
        request.environment = [
            "LIVEKIT_URL": assignment.hasURL && !assignment.url.isEmpty ? assignment.url : livekit.url,
            "LIVEKIT_TOKEN": assignment.token,
            "LIVEKIT_ROOM": job.room.name,
            "LIVEKIT_JOB_ID": job.id,
            "LIVEKIT_AGENT_NAME": job.agentName,
            "LIVEKIT_JOB": (try? job.jsonString()) ?? "{}",
        ]
        return request
    }

    private func start(_ jobID: String, _ request: StartRequest) async {
        PhaseTrace.current?.mark("start task")
        do throws(CorralError) {
            let record = try await supervisor.start(request)
            if starting.removeValue(forKey: jobID) == true {
                _ = try? await supervisor.end(record.id, reason: .jobTerminated)
                return
            }
            if record.status == .running { await running(jobID) }
        } catch {
            starting[jobID] = nil
            traces[jobID] = nil
            if let session = request.sessionID { await supervisor.releaseReservation(session) }
            metrics.failed(agentName: settings.agentName)
            logger.warning("a LiveKit job could not be started", metadata: ["job_id": "\(jobID)", "error": "\(error.message)"])
            await report(jobID, book.failedToStart(jobID, why: "corral could not start the job's agent: \(error.message)"))
            await refresh()
        }
    }

    /// The session's status and end, from the supervisor's events.
    private func observe(_ event: CorralEvent) async {
        guard event.agent == profile, let jobID = Self.jobID(of: event.sessionID) else { return }
        switch event.payload {
        case .started(let started) where started.status == .running:
            await running(jobID)
        case .status(.running), .ready:
            await running(jobID)
        case .ended(let ended):
            guard let report = book.ended(jobID, reason: ended.reason) else { return }
            offeredAt[jobID] = nil
            traces[jobID] = nil
            if case .failed = report { metrics.failed(agentName: settings.agentName) }
            await self.report(jobID, report)
            await refresh()
        default:
            break
        }
    }

    private func running(_ jobID: String) async {
        guard let report = book.running(jobID) else { return }
        if let offered = offeredAt.removeValue(forKey: jobID) { metrics.jobRunning(agentName: settings.agentName, after: .now - offered) }
        let trace = traces.removeValue(forKey: jobID)
        await self.report(jobID, report)
        trace?.mark("JS_RUNNING sent")
        trace?.finish()
    }

    /// Sent in the order the reports are made (a job's `JS_RUNNING` before its end).
    private func report(_ jobID: String, _ report: WorkerJobBook.Report) async {
        var update = Livekit_UpdateJobStatus()
        update.jobID = jobID
        switch report {
        case .running: update.status = .jsRunning
        case .success: update.status = .jsSuccess
        case .failed(let why):
            update.status = .jsFailed
            update.error = why
        }
        logger.info("LiveKit job status", metadata: ["job_id": "\(jobID)", "status": "\(update.status)", "error": "\(update.error)"])
        await connection.send(update)
    }

    static func jobID(of session: SessionID) -> String? {
        session.rawValue.hasPrefix("lk-") ? String(session.rawValue.dropFirst(3)) : nil
    }

    // MARK: Status

    /// Every `statusInterval`: held places whose assignment never came are given up, and the
    /// status is reported.
    private func tick() async {
        for session in book.expire(now: .now) {
            await supervisor.releaseReservation(session)
            logger.notice("gave up the place held for a LiveKit job: its assignment did not come", metadata: ["session": "\(session)"])
        }
        await refresh(force: true)
    }

    private func currentConditions() async -> WorkerJobBook.Conditions {
        let corral = await supervisor.workerConditions
        return WorkerJobBook.Conditions(
            accepting: corral.accepting, hasRoom: corral.hasRoom, storeReachable: corral.storeReachable, hostPressure: pressure?.current()
        )
    }

    /// Reports the status when it changed (or always, with `force`).
    private func refresh(force: Bool = false) async {
        conditions = await currentConditions()
        var update = Livekit_UpdateWorkerStatus()
        update.status = book.isAvailable(conditions) ? .wsAvailable : .wsFull
        update.load = Float(book.load(conditions))
        update.jobCount = UInt32(book.activeJobs)
        update.draining = !conditions.accepting
        guard force || update != lastStatus else { return }
        lastStatus = update
        await connection.send(update)
    }
}

extension LiveKitWorkerSettings.JobType {
    var protocolValue: Livekit_JobType {
        switch self {
        case .room: .jtRoom
        case .publisher: .jtPublisher
        case .participant: .jtParticipant
        }
    }
}
