import CorralPlatform
import Foundation
import Logging
import CorralConfiguration

/// Forking a session from its profile's warm template. The start is admitted to the template's
/// fork queue (503 past its bound; no ready template: the start is cold), recorded as any start,
/// its cgroups and log are made, and, when its turn comes, the template is asked to fork over its
/// control channel with those descriptors. The child places itself in the session's cgroups
/// before anything else; corral checks the answer (the pidfd's process is in the cgroups and
/// leads its own session) and records the leader as for a spawn. A template that answers garbage
/// or not in time fails the start (503) and is replaced; one that refuses fails only the start.
extension Supervisor {
    /// A fork request admitted to the ready template of the settings' profile, or nil when the
    /// start is not forked (no template for the profile, or none ready: it starts cold).
    func admitFork(_ settings: SessionSettings) throws(CorralError) -> UInt64? {
        guard templates.has(settings.agent) else { return nil }
        lastForkRequest += 1
        let request = lastForkRequest
        switch templates.admit(settings.agent, request: request) {
        case .admitted:
            return request
        case .noTemplate:
            logger.info(
                "the profile's template is not ready: the session starts cold",
                metadata: [LogKey.agent: "\(settings.agent)", LogKey.session: "\(settings.id)"]
            )
            return nil
        case .full(let bound):
            metrics.templateForkFailed(agent: settings.agent)
            throw CorralError(
                .unavailable,
                "agent '\(settings.agent)': its template already has \(bound) fork requests waiting (template.max_queued_forks); try again shortly"
            )
        }
    }

    /// The fork request is done (answered, failed, or not sent): the next one waiting may go.
    func forkRequestFinished(_ agent: String, request: UInt64, forked: Bool? = nil) {
        guard let next = templates.finished(agent, request: request, forked: forked) else { return }
        forkTurns.removeValue(forKey: next)?.resume(returning: templates.readyTemplate(agent))
    }

    /// Forks the entry's agent from its profile's template. Nil when no template is ready by the
    /// time the request may be sent (the caller spawns it instead); throws when the fork failed.
    func fork(
        _ entry: SessionTable.Entry,
        request: UInt64,
        started: @escaping @Sendable (Int32) -> Void,
        exited: @escaping ProcessMonitor.ExitHandler
    ) async throws(CorralError) -> AgentLauncher.Launched? {
        let agent = entry.record.agent
        guard let cgroups = containment as? CgroupContainment else {
            forkRequestFinished(agent, request: request)
            return nil
        }
        let sessionID = entry.id
        let limits = entry.handles.limits
        let dataDirectory = dataDirectory
        let placement: ForkPlacement
        let executor = launcher.executor
        do {
            placement = try await executor.run { () throws(CorralError) -> ForkPlacement in
                defer { executor.whenIdle { dataDirectory.makeLogSpares() } }
                return try cgroups.prepareFork(sessionID: sessionID, limits: limits, dataDirectory: dataDirectory)
            }
        } catch {
            // As a spawn without its cgroup: the agent is started the other way (which falls
            // back to process groups for this session, logged).
            logger.about(entry.record).warning("no cgroup for the fork: the agent is spawned instead", metadata: [LogKey.error: "\(error)"])
            forkRequestFinished(agent, request: request)
            return nil
        }
        entry.handles.forkCgroup = placement.cgroup.relativePath
        guard let templateID = await turn(agent, request: request), let template = table.entries[templateID], !template.isStopping,
            let channel = template.handles.templateChannel
        else {
            forkRequestFinished(agent, request: request)
            placement.closeDescriptors()
            await abandon(placement, cgroups)
            entry.handles.forkCgroup = nil
            return nil
        }
        let assignment = entry.handles.assignment?.agentDescriptor
        let fork = TemplateProtocol.Fork(
            id: request, sessionID: sessionID, idle: entry.isIdle, environment: agentEnvironment(entry),
            workingDirectory: entry.profile.workingDirectory ?? FileManager.default.currentDirectoryPath,
            descriptors: [.log] + placement.procs.map { _ in .cgroup } + (assignment == nil ? [] : [.assign])
        )
        let settings = template.profile.template ?? TemplateSettings()
        let began = ContinuousClock.now
        let reply = await channel.request(
            fork, descriptors: [placement.logFD] + placement.procs + (assignment.map { [$0] } ?? []), timeout: .seconds(settings.forkTimeoutSeconds)
        )
        placement.closeDescriptors()
        switch reply {
        case .success(.forked(let leader)):
            let monitor = monitor
            let origin = channel.origin
            do {
                let tree = try await launcher.executor.run { () throws(CorralError) -> any ContainedTree in
                    try monitor.withSpawnGate { () throws(CorralError) -> any ContainedTree in
                        try cgroups.adoptFork(placement, leader: leader, origin: origin, sessionID: sessionID, monitor: monitor) { tree throws(CorralError) in
                            started(tree.leader.pid)
                            do throws(SystemError) {
                                try tree.watchLeaderExit(exited)
                            } catch {
                                throw CorralError(.spawnFailed, "cannot watch the agent's exit", underlying: error)
                            }
                        }
                    }
                }
                forkRequestFinished(agent, request: request, forked: true)
                metrics.templateForked(agent: agent, after: .now - began)
                return AgentLauncher.Launched(tree: tree, logPath: placement.logPath)
            } catch {
                // Replaced first: the requests waiting behind this one then start cold.
                let why = "forked a child that is not the session's: \(error.message)"
                replaceTemplate(template, why: why)
                forkRequestFinished(agent, request: request, forked: false)
                await abandon(placement, cgroups)
                throw CorralError(.unavailable, "its template " + why + "; the template is replaced")
            }
        case .success(.refused(let why)):
            forkRequestFinished(agent, request: request, forked: false)
            metrics.templateForkFailed(agent: agent)
            await abandon(placement, cgroups)
            throw CorralError(.unavailable, "its template refused to fork the session: \(why)")
        case .failure(let failure):
            replaceTemplate(template, why: failure.description)
            forkRequestFinished(agent, request: request, forked: false)
            metrics.templateForkFailed(agent: agent)
            await abandon(placement, cgroups)
            throw CorralError(.unavailable, "its template \(failure); the template is replaced")
        }
    }

    /// Waits for the request's turn: the template to send it to, or nil if none is ready any more.
    private func turn(_ agent: String, request: UInt64) async -> SessionID? {
        switch templates.prepared(agent, request: request) {
        case .now: return templates.readyTemplate(agent)
        case .dropped: return nil
        case .later: return await withCheckedContinuation { forkTurns[request] = $0 }
        }
    }

    /// Ends a template that failed a fork request (`why`, for its end and the API).
    func replaceTemplate(_ template: SessionTable.Entry, why: String) {
        guard let current = table.resolve(template.id, instance: template.instance), !current.isStopping else { return }
        current.handles.templateFailure = why
        logger.about(current.record).error("the profile's template failed; it is replaced", metadata: [LogKey.reason: "\(why)"])
        handle(.endRequested(.templateFailed), for: current)
    }

    /// A fork that will not be: its cgroups (and anything the template placed there) go.
    private func abandon(_ placement: ForkPlacement, _ cgroups: CgroupContainment) async {
        await launcher.executor.run { cgroups.abandonFork(placement) }
    }
}
