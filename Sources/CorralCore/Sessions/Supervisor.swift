import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The only place that changes sessions. It records every change in the store before acting on
/// it, spawns and ends agents through the `Containment`, and turns exits, readiness messages and
/// timers into lifecycle events. A swift-service-lifecycle `Service`: on graceful shutdown it
/// ends every session.
public actor Supervisor: Service {
    enum Event: Sendable {
        case leaderExited(SessionID, instance: UInt64, ExitStatus)
        case notification(senderPID: Int32, message: String)
    }

    let configuration: CorralConfiguration
    let store: any SessionStore
    let containment: any Containment
    let dataDirectory: DataDirectory
    let monitor: ProcessMonitor
    let terminator: TreeTerminator
    let metrics: CorralMetrics
    public nonisolated let events: EventBus
    let logger: Logger
    private let inheritedEnvironment: [String: String]
    /// Variables a session's agent gets on top of its profile's (e.g. LiveKit credentials),
    /// computed when it is spawned.
    public typealias CredentialProvider = @Sendable (SessionRecord, AgentProfile) -> [String: String]
    let credentials: CredentialProvider?
    /// Exits and notify messages from the monitor thread, handled in order on the actor.
    let inbox: AsyncStream<Event>
    let inboxSink: AsyncStream<Event>.Continuation

    var sessions: [SessionID: LiveSession] = [:]
    /// Sessions whose last store write failed: their record is written again (or deleted, if
    /// they ended) once the store answers. Under a lock rather than on the actor, so that a
    /// write that succeeds (nearly all) ends without a hop back to the actor.
    let unsynced = Mutex<Set<SessionID>>([])
    /// False from a failed store operation until one succeeds again.
    var storeReachable = true
    /// Start-up reconciliation could not read the store; it runs once the store answers.
    var reconciliationPending = false
    var sessionsByLeader: [Int32: SessionID] = [:]
    /// The ids prewarmed agents had while idle, to the session ids they took: exits and timers
    /// registered under the idle id still reach the session.
    var aliases: [SessionID: SessionID] = [:]
    /// Session ids (with agent and room) of warm starts under way, not yet in `sessions`.
    var reserved: [SessionID: (agent: String, room: String?)] = [:]
    /// Idle prewarmed agents, by profile (only profiles with `prewarm` > 0).
    var pools: [String: PrewarmPool] = [:]
    /// Live sessions by agent and status, kept in step with every change (O(1) each); idle
    /// agents are counted apart, by agent and `loading`/`ready`.
    private var activeCounts: [String: [SessionStatus: Int]] = [:]
    private var idleCounts: [String: [SessionStatus: Int]] = [:]
    private var nextInstance: UInt64 = 0
    /// When log sizes were last looked at (see `watchSessions`).
    var lastLogCheck = ContinuousClock.now
    private var notifySocket: NotifySocket?
    private var notifyToken: UInt64?
    private var prepared = false
    private var preparation: Task<Result<Void, CorralError>, Never>?
    var accepting = false

    public init(
        configuration: CorralConfiguration,
        dataDirectory: DataDirectory,
        store: any SessionStore,
        containment: any Containment,
        metrics: CorralMetrics = .discarding,
        events: EventBus = EventBus(),
        credentials: CredentialProvider? = nil,
        logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.configuration = configuration
        self.dataDirectory = dataDirectory
        self.store = store
        self.containment = containment
        self.monitor = .shared
        self.terminator = TreeTerminator(reaped: ProcessMonitor.shared.reaped)
        self.metrics = metrics
        self.events = events
        self.credentials = credentials
        self.logger = logger
        self.inheritedEnvironment = environment
        (inbox, inboxSink) = AsyncStream.makeStream(of: Event.self)
        for (name, profile) in configuration.agents where profile.prewarm > 0 {
            pools[name] = PrewarmPool(target: profile.prewarm)
        }
    }

    /// Everything that must be in place before requests are served: the notify socket, the
    /// process monitor, the demo agent's script, and a first sweep of the store.
    /// Safe to call more than once (the server's prelude and `run` both do): every caller waits
    /// for the one preparation.
    public func prepare() async throws(CorralError) {
        let preparation =
            self.preparation
            ?? Task { () -> Result<Void, CorralError> in
                do throws(CorralError) {
                    return .success(try await self.prepareOnce())
                } catch {
                    return .failure(error)
                }
            }
        self.preparation = preparation
        try await preparation.value.get()
    }

    private func prepareOnce() async throws(CorralError) {
        prepared = true
        if configuration.agents.values.contains(where: { $0.command.contains(DemoAgent.scriptPath(dataDirectory: dataDirectory.path)) }) {
            try dataDirectory.install(DemoAgent.script, as: DemoAgent.fileName, mode: 0o700)
        }
        do {
            try monitor.start()
            let socket = try NotifySocket(instanceID: dataDirectory.instanceID)
            let sink = inboxSink
            notifyToken = try monitor.watchReadable(socket.descriptor) {
                for (sender, message) in socket.receiveAll() {
                    sink.yield(.notification(senderPID: sender, message: message))
                }
            }
            notifySocket = socket
        } catch {
            throw CorralError(.system, "cannot set up process supervision", underlying: error)
        }
        if let limit = Syscall.raiseOpenFileLimit() {
            logger.debug("open file limit", metadata: ["limit": "\(limit)"])
        }
        await reconcile()
        accepting = true
        refillPools()
        if containment.kind == .processGroup {
            for (name, profile) in configuration.agents where profile.cpuLimit != nil {
                logger.warning("cpu_limit cannot be enforced without cgroups", metadata: [LogKey.agent: "\(name)"])
            }
        }
        logger.info(
            "supervisor ready",
            metadata: [LogKey.containment: "\(containment.kind.rawValue)", "data_dir": "\(dataDirectory.path)"]
        )
    }

    public func run() async throws {
        try await prepare()
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in self.inbox { await self.handle(event) }
            }
            group.addTask { await self.sweepPeriodically() }
            group.addTask { await self.watchPeriodically() }
            group.addTask { await self.storeRecoveryLoop() }
            try? await gracefulShutdown()
            await self.shutdown()
            group.cancelAll()
        }
    }

    // MARK: Queries

    /// A live session; idle prewarmed agents are not sessions.
    public func session(_ id: SessionID) -> SessionRecord? {
        sessions[id].flatMap { $0.isIdle ? nil : snapshot($0) }
    }

    public func allSessions() -> [SessionRecord] {
        inOrder(sessions.values.filter { !$0.isIdle }).map(snapshot)
    }

    /// Oldest first. Sorted as references and copied after by the caller: moving whole records
    /// in the sort was a tenth of a list at 1,000 sessions.
    func inOrder(_ live: [LiveSession]) -> [LiveSession] {
        // The ids (strings: a retain and a release each) only when the times are equal.
        live.sorted { first, second in
            let firstCreated = first.record.createdAt
            let secondCreated = second.record.createdAt
            return firstCreated != secondCreated ? firstCreated < secondCreated : first.record.id < second.record.id
        }
    }

    /// Sessions and idle prewarmed agents: what counts toward `max_sessions`.
    public var sessionCount: Int { sessions.count }

    /// Live sessions bound to a LiveKit room.
    public func sessions(inRoom room: String) -> [SessionID] {
        sessions.values.filter { $0.record.livekitRoom == room }.map(\.record.id)
    }

    /// The live session whose agent has this LiveKit identity.
    public func session(withIdentity identity: String) -> SessionID? {
        sessions.values.first { $0.record.livekitIdentity == identity }?.record.id
    }

    /// Every live session with what it uses (process count, memory), read off the actor.
    public func allSessionsWithUsage() async -> [(SessionRecord, ResourceUsage?)] {
        let entries = inOrder(sessions.values.filter { !$0.isIdle }).map { (snapshot($0), $0.tree) }
        return await Blocking.run {
            let table = entries.contains { $0.1?.needsProcessTable == true } ? ProcessTable.read() : nil
            return entries.map { ($0.0, $0.1?.usage(in: table)) }
        }
    }

    /// The session's log: the live session's, else the latest one left by a session with this
    /// id (logs outlive their sessions until `log_retention_seconds`).
    public func logPath(for id: SessionID) -> (path: String, live: Bool)? {
        if let session = sessions[id], !session.isIdle { return (session.record.logPath, true) }
        return dataDirectory.latestLog(for: id).map { ($0, false) }
    }

    public func isLive(_ id: SessionID) -> Bool { session(id) != nil }

    /// Whether the store answers now (`/readyz`).
    public func storeIsReachable() async -> Bool {
        do {
            try await store.ping()
            return true
        } catch {
            storeReachable = false
            return false
        }
    }

    /// Every process of the session, read from /proc (off the actor: it may take a while on a
    /// busy host).
    public func processes(_ id: SessionID, withEnvironments: Bool = false) async throws(CorralError) -> ProcessReport {
        guard let session = sessions[id], !session.isIdle else { throw Self.unknownSession(id) }
        let record = snapshot(session)
        guard let tree = session.tree else {
            return ProcessReport(record: record, isProcessAlive: false, isGroupAlive: false, listing: ProcessListing())
        }
        return await Blocking.run {
            var listing = tree.members()
            if withEnvironments {
                for index in listing.entries.indices { listing.entries[index].environment = ProcFS.environment(listing.entries[index].pid) }
            }
            let leaderAlive = listing.entries.first?.pid == tree.leader.pid
            return ProcessReport(record: record, isProcessAlive: leaderAlive, isGroupAlive: !tree.isEmpty, listing: listing)
        }
    }

    private func snapshot(_ session: LiveSession) -> SessionRecord {
        var record = session.record
        record.status = session.lifecycle.status
        return record
    }

    // MARK: Starting

    public func start(_ request: StartRequest) async throws(CorralError) -> SessionRecord {
        let began = ContinuousClock.now
        guard accepting else {
            throw CorralError(
                .unavailable,
                !prepared ? "corral is still starting; try again"
                    : configuration.shutdown == .drain ? "corral is draining before it stops; no new sessions are accepted"
                    : "corral is shutting down; no new sessions are accepted"
            )
        }
        let agent = request.agent ?? configuration.defaultAgent
        guard let profile = configuration.agents[agent] else {
            throw CorralError(.notFound, "unknown agent '\(agent)'; configured agents: \(configuration.agents.keys.sorted().joined(separator: ", "))")
        }
        let timeout = request.timeoutSeconds ?? configuration.sessionTimeoutSeconds
        guard timeout > 0, timeout <= configuration.maxSessionTimeoutSeconds else {
            throw CorralError(.invalidInput, "timeout_seconds must be greater than 0 and at most \(Self.format(configuration.maxSessionTimeoutSeconds))")
        }
        let id = request.sessionID ?? uniqueID()
        guard sessions[id] == nil, reserved[id] == nil else { throw Self.idInUse(id) }
        if profile.livekit && request.livekitRoom == nil {
            throw CorralError(.invalidInput, "agent '\(agent)' is a LiveKit agent: give the room it serves (livekit.room)")
        }
        if let room = request.livekitRoom {
            let limit = configuration.livekit?.sessionsPerRoom ?? 1
            let present =
                sessions.values.filter { $0.record.livekitRoom == room && $0.record.agent == agent }.count
                + reserved.values.filter { $0.room == room && $0.agent == agent }.count
            guard present < limit else {
                throw CorralError(.conflict, "room '\(room)' already has \(present) session(s) of agent '\(agent)' (livekit.sessions_per_room is \(limit))")
            }
        }
        let settings = SessionSettings(
            id: id, agent: agent, profile: profile, timeout: timeout, metadata: request.metadata,
            livekitRoom: request.livekitRoom,
            livekitIdentity: request.livekitRoom.map { _ in request.livekitIdentity ?? "agent-\(id.rawValue)" }
        )
        if profile.prewarm > 0, let record = try await startWarm(settings) {
            metrics.sessionStarted(agent: agent, path: .warm, after: .now - began)
            return record
        }
        guard sessions.count < configuration.maxSessions else {
            throw CorralError(.unavailable, "at capacity: \(configuration.maxSessions) sessions are running (max_sessions); end one or raise max_sessions")
        }
        let session = try await launch(settings, start: .cold)
        metrics.sessionStarted(agent: agent, path: .cold, after: .now - began)
        announceStarted(session)
        return snapshot(session)
    }

    /// Publishes `session.started` (once: later status changes go out as `session.status`).
    func announceStarted(_ session: LiveSession) {
        session.announced = true
        events.publish(
            .started,
            session: session.record,
            details: [
                "pid": .number(Double(session.record.pid ?? 0)), "pgid": .number(Double(session.record.pgid ?? 0)),
                "containment": .string(session.record.containment.rawValue), "status": .string(session.lifecycle.status.rawValue),
                "start": .string(session.record.start.rawValue),
            ]
        )
    }

    /// Records and spawns an agent: a session's (`cold`) or an idle prewarmed one (`idle`).
    /// corral never runs an agent it has not recorded.
    func launch(_ settings: SessionSettings, start: StartPath) async throws(CorralError) -> LiveSession {
        // Checked here, right before the session joins `sessions`, so that no agent starts after
        // shutdown has collected the sessions to end.
        guard accepting else { throw CorralError(.unavailable, "corral is shutting down; no new sessions are accepted") }
        let id = settings.id
        let profile = settings.profile
        let searchPath = profile.environment["PATH"] ?? inheritedEnvironment["PATH"]
        guard let executable = AgentCommand.resolve(profile.command[0], workingDirectory: profile.workingDirectory, searchPath: searchPath) else {
            metrics.spawnFailed()
            throw CorralError(.spawnFailed, "agent '\(settings.agent)': program '\(profile.command[0])' was not found or is not executable")
        }
        let channel: AssignmentChannel?
        do {
            channel = start == .idle ? try AssignmentChannel() : nil
        } catch {
            throw CorralError(.spawnFailed, "cannot create a prewarmed agent's assignment channel", underlying: error)
        }
        let log: (fd: Int32, path: String)
        do {
            log = try dataDirectory.createLog(for: id)
        } catch {
            channel?.close()
            throw error
        }
        defer { Syscall.close(log.fd) }
        let now = Date()
        let record = SessionRecord(
            id: id,
            agent: settings.agent,
            containment: containment.kind,
            createdAt: now,
            expiresAt: now.addingTimeInterval(settings.timeout),
            metadata: settings.metadata,
            logPath: log.path,
            node: configuration.nodeID,
            livekitRoom: settings.livekitRoom,
            livekitIdentity: settings.livekitIdentity,
            start: start
        )
        let session = LiveSession(instance: nextInstanceNumber(), record: record, profile: profile)
        session.assignment = channel
        sessions[id] = session
        count(session, as: .starting)
        do {
            try await store.insert(record)
        } catch {
            count(session, as: nil)
            sessions[id] = nil
            channel?.close()
            refillPools()
            if error.code == .conflict { throw Self.idInUse(id) }
            storeReachable = false
            metrics.storeFailed()
            throw CorralError(.unavailable, "the session could not be recorded, so no agent was started: \(error.message)")
        }

        do {
            try spawn(session, executable: executable, logFD: log.fd)
            channel?.closeAgentEnd()
        } catch {
            metrics.spawnFailed()
            count(session, as: nil)
            sessions[id] = nil
            channel?.close()
            refillPools()
            logger.about(record).error("agent could not be started", metadata: [LogKey.error: "\(error)"])
            try? await store.delete(id)
            throw error
        }

        // An idle agent always says when it has loaded, whatever the profile's `ready`.
        perform(session.lifecycle.handle(.spawned(start == .idle ? .notify : profile.readiness)), for: session)
        guard await session.lastWrite?.value ?? true else {
            let result = await endAndWait(session, reason: .failedToStart)
            throw CorralError(.unavailable, "the session could not be recorded, so its agent was stopped (\(result.outcome.rawValue))")
        }
        return session
    }

    /// Spawns the agent and registers its leader, all before any other actor work can run.
    private func spawn(_ session: LiveSession, executable: String, logFD: Int32) throws(CorralError) {
        let id = session.record.id
        let instance = session.instance
        let sink = inboxSink
        let environment = AgentCommand.environment(
            inherited: inheritedEnvironment,
            profile: session.profile,
            agent: session.record.agent,
            record: session.record,
            instanceID: dataDirectory.instanceID,
            notifySocket: notifySocket?.address,
            credentials: session.isIdle ? [:] : credentials?(session.record, session.profile) ?? [:],
            assignFD: session.assignment == nil ? nil : AgentLaunch.assignTargetFD
        )
        let launch = AgentLaunch(
            sessionID: id,
            executable: executable,
            arguments: session.profile.command,
            environment: environment,
            workingDirectory: session.profile.workingDirectory,
            outputFD: logFD,
            limits: session.limits,
            user: session.profile.user,
            assignFD: session.assignment?.agentDescriptor
        )
        let tree = try containment.launch(launch, monitor: monitor) { tree throws(CorralError) in
            do throws(SystemError) {
                session.watchToken = try monitor.watch(tree.leader) { status in
                    sink.yield(.leaderExited(id, instance: instance, status))
                }
            } catch {
                throw CorralError(.spawnFailed, "cannot watch the agent's exit", underlying: error)
            }
        }
        session.tree = tree
        session.record.pid = tree.leader.pid
        session.record.pgid = tree.pgid
        session.record.isGroupLeader = tree.pgid == tree.leader.pid
        session.record.leaderStartTime = tree.leaderStartTime
        session.record.containment = tree.kind
        session.record.cgroupPath = tree.cgroupPath
        sessionsByLeader[tree.leader.pid] = id
        logger.about(session.record).info(
            "agent spawned",
            metadata: [LogKey.groupLeader: "\(session.record.isGroupLeader)", LogKey.containment: "\(tree.kind.rawValue)"]
        )
    }

    /// Moves the session to `status` (nil: gone) in the active-sessions gauge, or an idle agent
    /// in the idle-agents gauge.
    func count(_ session: LiveSession, as status: SessionStatus?) {
        let counted = status.map { LiveSession.Counted(idle: session.isIdle, status: $0) }
        guard session.counted != counted else { return }
        let agent = session.record.agent
        if let old = session.counted { adjustCount(old, agent: agent, by: -1) }
        if let counted { adjustCount(counted, agent: agent, by: 1) }
        session.counted = counted
    }

    private func adjustCount(_ counted: LiveSession.Counted, agent: String, by delta: Int) {
        guard counted.idle else {
            activeCounts[agent, default: [:]][counted.status, default: 0] += delta
            metrics.activeSessions(agent: agent, status: counted.status, count: activeCounts[agent]![counted.status]!)
            return
        }
        idleCounts[agent, default: [:]][counted.status, default: 0] += delta
        let state = switch counted.status {
        case .starting: "loading"
        case .running: "ready"
        case .stopping: "stopping"
        }
        metrics.idleAgents(agent: agent, state: state, count: idleCounts[agent]![counted.status]!)
    }

    /// The session `id` named when an exit watch, timer or task was set up (it may have taken
    /// another id since: a prewarmed agent handed a session), if it is still that instance.
    func live(_ id: SessionID, instance: UInt64) -> LiveSession? {
        if let session = sessions[id], session.instance == instance { return session }
        if let current = aliases[id], let session = sessions[current], session.instance == instance { return session }
        return nil
    }

    func nextInstanceNumber() -> UInt64 {
        nextInstance += 1
        return nextInstance
    }

    private func uniqueID() -> SessionID {
        while true {
            let id = SessionID.generate()
            if sessions[id] == nil { return id }
        }
    }

    // MARK: Ending

    /// Ends the session and answers once nothing of it is left. A session already ending is not
    /// ended twice: the caller gets the result of the end under way.
    public func end(_ id: SessionID, reason: EndReason = .deleted) async throws(CorralError) -> EndResult {
        // At shutdown, ids collected earlier may name idle agents, or sessions they became since.
        let session = sessions[id] ?? (reason == .shutdown ? aliases[id].flatMap { sessions[$0] } : nil)
        guard let session, !session.isIdle || reason == .shutdown else { throw Self.unknownSession(id) }
        return await endAndWait(session, reason: reason)
    }

    func endAndWait(_ session: LiveSession, reason: EndReason) async -> EndResult {
        perform(session.lifecycle.handle(.endRequested(reason)), for: session)
        return await withCheckedContinuation { session.endWaiters.append($0) }
    }

    /// What happens to sessions when corral stops, per `shutdown`: ended (`terminate`), given
    /// time to end by themselves first (`drain`), or left running for the next corral
    /// (`detach`). New sessions are refused from the start.
    public func shutdown() async {
        accepting = false
        for pool in pools.values { pool.refill?.cancel() }
        switch configuration.shutdown {
        case .terminate:
            await endAll()
        case .drain:
            await drain()
            await endAll()
        case .detach:
            await detachAll()
        }
        if let notifyToken { monitor.unwatch(notifyToken) }
        notifyToken = nil
        (containment as? CgroupContainment)?.root.removeIfUnused()
        events.finishAll()
    }

    private func endAll() async {
        let ids = Array(sessions.keys)
        if !ids.isEmpty { logger.info("ending every session before exit", metadata: ["count": "\(ids.count)"]) }
        await withDiscardingTaskGroup { group in
            for id in ids {
                group.addTask { _ = try? await self.end(id, reason: .shutdown) }
            }
        }
    }

    private func drain() async {
        let deadline = ContinuousClock.now + .seconds(configuration.drainTimeoutSeconds)
        await endIdleAgents()
        logger.info(
            "draining: new sessions are refused, running ones may end by themselves",
            metadata: ["count": "\(sessions.count)", "timeout_seconds": "\(configuration.drainTimeoutSeconds)"]
        )
        while sessions.values.contains(where: { !$0.isIdle }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Lets go of every session without ending it: their records, processes and cgroups stay
    /// for the next corral to adopt.
    private func detachAll() async {
        for session in sessions.values {
            session.cancelTimers()
            if let token = session.watchToken { monitor.unwatch(token) }
            session.watchToken = nil
            session.tree?.detach()
            _ = await session.lastWrite?.value
        }
        if !sessions.isEmpty {
            logger.notice("detached: sessions keep running for the next corral to adopt", metadata: ["count": "\(sessions.count)"])
        }
        sessions.removeAll()
        sessionsByLeader.removeAll()
    }

    // MARK: Lifecycle actions

    func perform(_ actions: [SessionLifecycle.Action], for session: LiveSession) {
        for action in actions {
            switch action {
            case .persist(let status):
                let changed = session.record.status != status
                session.record.status = status
                if status == .running, session.record.readyAt == nil { session.record.readyAt = Date() }
                enqueueWrite(session)
                count(session, as: status)
                // The first status goes out with `session.started`.
                if changed && session.announced {
                    events.publish(.status, session: session.record, details: ["status": .string(status.rawValue)])
                }
            case .startDeadlineTimer:
                session.deadlineTimer = timer(session, in: session.record.expiresAt.timeIntervalSinceNow, event: .deadlineReached)
            case .startStartupTimer:
                let deadline = session.record.createdAt.addingTimeInterval(configuration.startupTimeoutSeconds)
                session.startupTimer = timer(session, in: deadline.timeIntervalSinceNow, event: .startupTimedOut)
            case .cancelStartupTimer:
                session.startupTimer?.cancel()
                session.startupTimer = nil
            case .cancelTimers:
                session.cancelTimers()
            case .terminate(let reason):
                beginTermination(session, reason: reason)
            case .remove(let reason):
                remove(session, reason: reason)
            }
        }
    }

    private func timer(_ session: LiveSession, in seconds: Double, event: SessionLifecycle.Event) -> Task<Void, Never> {
        let id = session.record.id
        let instance = session.instance
        let deadline = ContinuousClock.now + .seconds(max(0, seconds))
        return Task { [weak self] in
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            await self?.deliver(event, to: id, instance: instance)
        }
    }

    func deliver(_ event: SessionLifecycle.Event, to id: SessionID, instance: UInt64) {
        guard let session = live(id, instance: instance) else { return }
        perform(session.lifecycle.handle(event), for: session)
    }

    private func beginTermination(_ session: LiveSession, reason: EndReason) {
        if session.endBegan == nil, session.isIdle { idleAgentStopping(session, reason: reason) }
        session.endBegan = session.endBegan ?? .now
        // Not spawned yet: the end goes on once the spawn has returned.
        guard let tree = session.tree else { return }
        logger.about(session.record).info("ending session", metadata: [LogKey.reason: "\(reason)"])
        let id = session.record.id
        let instance = session.instance
        let grace = Duration.seconds(configuration.graceSeconds)
        let record = session.record
        Task { [terminator, metrics, events, logger] in
            let members = await Blocking.run(.urgent) { tree.memberGroups() }
            metrics.processesAtEnd(members.count)
            let escaped = members.filter { $0.pgid != tree.pgid }
            if !escaped.isEmpty {
                metrics.escapesCaught(escaped.count)
                logger.about(record).notice("processes outside the session's process group are ended with it", metadata: ["pids": "\(escaped.map(\.pid))"])
                events.publish(.escape, session: record, details: ["pids": .array(escaped.map { .number(Double($0.pid)) })])
            }
            let outcome = await terminator.terminate(tree, grace: grace)
            self.terminationFinished(id, instance: instance, outcome: outcome)
        }
    }

    private func terminationFinished(_ id: SessionID, instance: UInt64, outcome: TerminationOutcome) {
        guard let session = live(id, instance: instance) else { return }
        session.lastOutcome = outcome
        perform(session.lifecycle.handle(.terminated), for: session)
    }

    private func remove(_ session: LiveSession, reason: EndReason) {
        session.cancelTimers()
        if let token = session.watchToken { monitor.unwatch(token) }
        session.watchToken = nil
        if let tree = session.tree {
            tree.release()
            sessionsByLeader[tree.leader.pid] = nil
        }
        let write = enqueueWrite(session, delete: true)
        let duration = session.endBegan.map { .now - $0 } ?? .zero
        let result = EndResult(
            sessionID: session.record.id,
            agent: session.record.agent,
            reason: reason,
            outcome: session.lastOutcome ?? .exited,
            duration: duration,
            leaderExit: session.leaderExit
        )
        var metadata: Logger.Metadata = [
            LogKey.reason: "\(reason.name)", LogKey.outcome: "\(result.outcome.rawValue)", LogKey.durationMS: "\(duration.milliseconds)",
        ]
        if let exit = session.leaderExit { metadata[LogKey.exit] = "\(exit)" }
        if session.isIdle {
            logger.about(session.record).info("prewarmed agent ended", metadata: metadata)
        } else {
            logger.about(session.record).info("session ended", metadata: metadata)
            metrics.sessionEnded(agent: session.record.agent, reason: reason, after: duration)
            var details: [String: JSONValue] = [
                "reason": .string(reason.name), "outcome": .string(result.outcome.rawValue),
                "duration_ms": .number(Double(duration.milliseconds)),
                "session_duration_ms": .number((Date().timeIntervalSince(session.record.createdAt) * 1000).rounded()),
            ]
            if let exit = session.leaderExit { details["exit"] = .string(exit.description) }
            events.publish(.ended, session: session.record, details: details)
        }
        let id = session.record.id
        let instance = session.instance
        Task {
            _ = await write.value
            self.forget(id, instance: instance, result: result)
        }
    }

    /// The last step: once the record is gone from the store, the session is gone from the API.
    private func forget(_ id: SessionID, instance: UInt64, result: EndResult) {
        guard let session = live(id, instance: instance) else { return }
        sessions[session.record.id] = nil
        count(session, as: nil)
        for former in session.formerIDs { aliases[former] = nil }
        // An exchange under way still watches the channel: it closes it when it returns.
        if !session.assigning {
            session.assignment?.close()
            session.assignment = nil
        }
        for waiter in session.endWaiters { waiter.resume(returning: result) }
        session.endWaiters.removeAll()
        // Room for an idle agent, or one to replace.
        refillPools()
    }

    /// Queues a store write of the session's current record (or its deletion) behind the
    /// session's earlier writes, so they land in order. A write that fails is remembered and
    /// retried until the store answers again (`storeRecoveryLoop`); the session goes on meanwhile.
    @discardableResult
    func enqueueWrite(_ session: LiveSession, delete: Bool = false) -> Task<Bool, Never> {
        let previous = session.lastWrite
        let record = session.record
        // Detached: the write needs nothing of the actor's, and a task that ran on it would wait
        // for the actor to start and again to finish (a start waits for its status write).
        let task = Task.detached { [store, logger, metrics] () -> Bool in
            _ = await previous?.value
            do {
                if delete {
                    try await store.delete(record.id)
                } else {
                    try await store.update(record)
                }
                _ = self.unsynced.withLock { $0.remove(record.id) }
                return true
            } catch {
                metrics.storeFailed()
                logger.about(record).error("session store write failed; it is retried until the store answers", metadata: [LogKey.error: "\(error)"])
                _ = self.unsynced.withLock { $0.insert(record.id) }
                await self.storeFailed()
                return false
            }
        }
        session.lastWrite = task
        return task
    }

    private func storeFailed() {
        storeReachable = false
    }

    // MARK: Errors

    static func unknownSession(_ id: SessionID) -> CorralError {
        CorralError(.notFound, "no session '\(id)' (it may have ended)")
    }

    static func idInUse(_ id: SessionID) -> CorralError {
        CorralError(.conflict, "session id '\(id)' is already in use; end that session first or choose another id")
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
