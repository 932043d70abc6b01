import CorralPlatform
import Foundation
import Logging
import CorralStore

/// Starting: a request is checked against the table, handed to a prewarmed agent or launched
/// cold. A launch joins the table, writes the record, spawns off the actor and only then
/// counts as spawned; corral never runs an agent it has not recorded.
extension Supervisor {
    public func start(_ request: StartRequest) async throws(CorralError) -> SessionRecord {
        let began = ContinuousClock.now
        PhaseTrace.current?.mark("actor")
        guard accepting else { throw notAccepting }
        let agent = request.agent ?? configuration.defaultAgent
        guard let profile = configuration.agents[agent] else {
            throw CorralError(.notFound, "unknown agent '\(agent)'; configured agents: \(configuration.agents.keys.sorted().joined(separator: ", "))")
        }
        let timeout = request.timeoutSeconds ?? configuration.sessionTimeoutSeconds
        guard timeout > 0, timeout <= configuration.maxSessionTimeoutSeconds else {
            throw CorralError(.invalidInput, "timeout_seconds must be greater than 0 and at most \(Self.format(configuration.maxSessionTimeoutSeconds))")
        }
        let id = request.sessionID ?? uniqueID()
        if request.reserved {
            guard table.isReserved(id) else {
                throw CorralError(.unavailable, "the place reserved for session '\(id)' was given up before it started")
            }
        } else {
            try table.checkFree(id)
        }
        if profile.livekit && request.livekitRoom == nil {
            throw CorralError(.invalidInput, "agent '\(agent)' is a LiveKit agent: give the room it serves (livekit.room)")
        }
        if let room = request.livekitRoom, request.livekitJob == nil {
            try table.checkRoom(room, agent: agent, limit: configuration.livekit?.sessionsPerRoom ?? 1)
        }
        let settings = SessionSettings(
            id: id, agent: agent, profile: profile, timeout: timeout, metadata: request.metadata,
            livekitRoom: request.livekitRoom,
            livekitIdentity: request.livekitRoom.map { _ in request.livekitIdentity ?? "agent-\(id.rawValue)" },
            livekitJob: request.livekitJob, environment: request.environment
        )
        if profile.prewarm > 0, let record = try await startWarm(settings) {
            metrics.sessionStarted(agent: agent, path: .warm, after: .now - began)
            return record
        }
        // A reserved place is this start's own (unless a warm attempt gave it up).
        if !table.isReserved(id) || !request.reserved { try table.checkCapacity() }
        let launched = try await launch(settings, start: .cold, forking: try admitFork(settings))
        // Announced once the answer is certain; changes after this go out as `session.status`.
        let record = table.resolve(launched.id, instance: launched.instance)?.snapshot ?? launched.snapshot
        table.markAnnounced(launched.id)
        announceStarted(record)
        metrics.sessionStarted(agent: agent, path: record.start, after: .now - began)
        PhaseTrace.current?.mark("announced")
        return record
    }

    /// Records and spawns an agent: a session's (`cold`), an idle prewarmed one (`idle`) or a
    /// profile's template (`template`). With `forking` (a fork request admitted to the profile's
    /// template), a session or idle agent is forked from the template instead, and recorded as
    /// `fork`; if the template goes away before the request is sent, it is spawned after all. Its
    /// id and place are reserved from the first check until it joins the table, so no other
    /// start can take them while its log is made.
    func launch(_ settings: SessionSettings, start: StartPath, forking request: UInt64? = nil) async throws(CorralError) -> SessionTable.Entry {
        // The fork request is given back unless `fork` takes it.
        var unsent = request
        defer { if let unsent { forkRequestFinished(settings.agent, request: unsent) } }
        guard accepting else { throw notAccepting }
        table.reserve(settings.id, .init(agent: settings.agent, room: settings.livekitRoom, takesPlace: true))
        defer { table.unreserve(settings.id) }
        let channel: AssignmentChannel?
        let templateChannel: TemplateChannel?
        do {
            channel = start == .idle ? try AssignmentChannel() : nil
            templateChannel = start == .template ? try TemplateChannel(monitor: monitor) : nil
        } catch {
            throw CorralError(.spawnFailed, "cannot create a \(start == .template ? "template's control" : "prewarmed agent's assignment") channel", underlying: error)
        }
        // Checked here, right before it joins the table, so that no agent starts after shutdown
        // has collected the sessions to end.
        guard accepting else {
            channel?.close()
            templateChannel?.close()
            throw notAccepting
        }
        let now = Date()
        var record = SessionRecord(
            id: settings.id, agent: settings.agent, containment: containment.kind, createdAt: now,
            // The log is created with the spawn; its path is written with the pid.
            expiresAt: now.addingTimeInterval(settings.timeout), metadata: settings.metadata, logPath: "",
            node: configuration.nodeID, livekitRoom: settings.livekitRoom, livekitIdentity: settings.livekitIdentity,
            start: request != nil && start == .cold ? .fork : start
        )
        record.livekitJob = settings.livekitJob
        let handles = SessionHandles(limits: start == .template ? settings.profile.template?.limits ?? ResourceLimits() : settings.profile.limits)
        handles.assignment = channel
        handles.templateChannel = templateChannel
        handles.environment = settings.environment
        let (entry, effects) = table.insert(record, profile: settings.profile, handles: handles)
        let id = entry.id
        let instance = entry.instance
        perform(effects, for: entry.id, instance: entry.instance)
        PhaseTrace.current?.mark("joined")

        if let error = await insert(record) {
            abandonLaunch(entry)
            if error.code == .conflict { throw CorralError.sessionIDInUse(record.id) }
            storeReachable = false
            metrics.storeFailed()
            throw CorralError(.unavailable, "the session could not be recorded, so no agent was started: \(error.message)")
        }

        PhaseTrace.current?.mark("inserted")
        let launched: AgentLauncher.Launched
        let started: @Sendable (Int32) -> Void = { [inboxSink] pid in inboxSink.yield(.leaderStarted(id, instance: instance, pid: pid)) }
        let exited: ProcessMonitor.ExitHandler = { [inboxSink] status in
            // A template's last words (exit reports of its forks) are read before its exit is told.
            templateChannel?.templateExited()
            inboxSink.yield(.leaderExited(id, instance: instance, status))
        }
        do throws(CorralError) {
            unsent = nil
            if let request, let forked = try await fork(entry, request: request, started: started, exited: exited) {
                launched = forked
            } else {
                if request != nil, start == .idle {
                    throw CorralError(.unavailable, "the idle agent could not be forked (its template went away before its turn)")
                }
                if request != nil {
                    logger.about(record).notice("the session could not be forked (its template went away before its turn): it starts cold")
                    table.update(id, instance: instance) { $0.start = .cold }
                }
                let launch = agentLaunch(entry)
                PhaseTrace.current?.mark("launch built")
                launched = try await launcher.launch(
                    launch, searchPath: settings.profile.environment["PATH"] ?? inheritedEnvironment["PATH"], started: started, exited: exited
                )
            }
        } catch {
            metrics.spawnFailed()
            logger.about(record).error("agent could not be started", metadata: [LogKey.error: "\(error)"])
            abandonLaunch(entry)
            enqueueDelete(record.id)
            throw CorralError(error.code, "agent '\(settings.agent)': \(error.message)", underlying: error.underlying)
        }
        PhaseTrace.current?.mark("spawned")
        let tree = launched.tree
        channel?.closeAgentEnd()
        handles.forkCgroup = nil
        if let templateChannel {
            templateChannel.closeTemplateEnd()
            startReading(templateChannel, of: entry)
        }
        handles.tree = tree
        handles.exitWatched = true
        table.update(entry.id, instance: entry.instance) { $0.logPath = launched.logPath }
        table.spawned(entry.id, instance: entry.instance, tree: tree)
        let current = table.resolve(entry.id, instance: entry.instance)
        logger.about(current?.record ?? record).info(
            "agent spawned",
            metadata: [LogKey.groupLeader: "\(current?.record.isGroupLeader ?? false)", LogKey.containment: "\(tree.kind.rawValue)"]
        )
        // An idle agent (and a template) always says when it has loaded, whatever the profile's `ready`.
        deliver(.spawned(start == .idle || start == .template ? .notify : settings.profile.readiness), to: entry.id, instance: entry.instance)
        let session = table.resolve(entry.id, instance: entry.instance) ?? entry
        PhaseTrace.current?.mark("decided")
        guard await writesSettled(entry.id) else {
            let result = await endAndWait(session, reason: .failedToStart)
            throw CorralError(.unavailable, "the session could not be recorded, so its agent was stopped (\(result.outcome.rawValue))")
        }
        PhaseTrace.current?.mark("settled")
        return session
    }

    /// What the spawner runs for the session; the program is resolved and the log made there.
    private func agentLaunch(_ entry: SessionTable.Entry) -> AgentLaunch {
        var launch = AgentLaunch(
            sessionID: entry.id,
            executable: entry.profile.command[0],
            arguments: entry.profile.command,
            environment: agentEnvironment(entry).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            workingDirectory: entry.profile.workingDirectory,
            outputFD: -1,
            limits: entry.handles.limits,
            user: entry.profile.user,
            assignFD: entry.handles.assignment?.agentDescriptor ?? entry.handles.templateChannel?.templateDescriptor
        )
        launch.ownMemory = entry.isTemplate
        return launch
    }

    /// The complete environment of the entry's agent (a fork gets it in its request).
    func agentEnvironment(_ entry: SessionTable.Entry) -> [String: String] {
        let session = entry.isSession
        return AgentCommand.variables(
            inherited: inheritedEnvironment,
            profile: entry.profile,
            agent: entry.record.agent,
            record: entry.record,
            instanceID: dataDirectory.instanceID,
            notifySocket: notifySocket?.address,
            credentials: session ? (credentials?(entry.record, entry.profile) ?? [:]).merging(entry.handles.environment) { $1 } : [:],
            assignFD: entry.handles.assignment == nil ? nil : AgentLaunch.assignTargetFD,
            templateFD: entry.handles.templateChannel == nil ? nil : AgentLaunch.assignTargetFD
        )
    }

    /// A start that failed after its session joined the table (its record could not be written,
    /// or its agent not spawned): the session leaves the table, and an end asked for meanwhile
    /// is answered, since no spawn will come to carry it out.
    private func abandonLaunch(_ entry: SessionTable.Entry) {
        guard let (gone, effects) = table.remove(entry.id, instance: entry.instance) else { return }
        perform(effects, for: entry.id, instance: entry.instance)
        gone.handles.assignment?.close()
        gone.handles.assignment = nil
        gone.handles.templateChannel?.close()
        gone.handles.templateChannel = nil
        var reason = EndReason.failedToStart
        if case .stopping(let requested) = gone.lifecycle.state { reason = requested }
        gone.handles.answerEndWaiters(
            EndResult(sessionID: gone.id, agent: gone.record.agent, reason: reason, outcome: .exited, duration: .zero, leaderExit: nil)
        )
    }

    /// Holds `id` and a place for a start to come (a LiveKit job accepted before its assignment
    /// arrives); `start` with `reserved` takes it, `releaseReservation` gives it up.
    public func reserve(_ id: SessionID, agent: String) throws(CorralError) {
        guard accepting else { throw notAccepting }
        try table.checkFree(id)
        try table.checkCapacity()
        table.reserve(id, .init(agent: agent, room: nil, takesPlace: true))
    }

    public func releaseReservation(_ id: SessionID) {
        table.unreserve(id)
    }

    /// Publishes `session.started` (once: later status changes go out as `session.status`).
    func announceStarted(_ record: SessionRecord) {
        let started = CorralEvent.Started(
            pid: record.pid ?? 0, pgid: record.pgid ?? 0, containment: record.containment, status: record.status, start: record.start
        )
        events.publish(.started(started), session: record)
    }

    func uniqueID() -> SessionID {
        while true {
            let id = SessionID.generate()
            if (try? table.checkFree(id)) != nil { return id }
        }
    }
}
