import CorralPlatform
import Foundation
import Logging
import CorralStore
import CorralConfiguration

extension Supervisor {
    /// Start-up reconciliation of the store with the host, before any request is served:
    /// - a record whose leader is alive and is the same process (pid and start time, and in the
    ///   session's cgroup where it has one) is adopted: pidfd, exit watch, timers from the stored
    ///   deadlines;
    /// - a record whose leader is gone, or whose pid now names another process, is removed, and
    ///   what is left of its session is killed without trusting the pid (its cgroup, or the
    ///   processes carrying its id); the other process is never signalled;
    /// - processes of this corral instance, or session cgroups below its root, that belong to no
    ///   adopted session (a crash between spawn and record) are killed as orphans.
    func reconcile() async {
        let records: [SessionRecord]
        do {
            records = try await store.allRecords()
            reconciliationPending = false
            writesMarked = (try? await store.lostWrites(of: configuration.nodeID, markedFor: markSeconds)) != nil
        } catch {
            metrics.storeFailed()
            storeReachable = false
            reconciliationPending = true
            logger.error("cannot read the session store to re-adopt sessions; retried once it answers", metadata: [LogKey.error: "\(error)"])
            return
        }
        let check = StoredRecordCheck(logsPath: dataDirectory.logsPath, containment: containment)
        for record in records where isOwn(record) && !isSupervised(record) {
            if let problem = check.problem(with: record) {
                // Nothing it names is touched; its processes, if corral's, are killed as orphans below.
                logger.about(record).error(
                    "the store holds a session record corral could not have written (\(problem)); it is removed, and nothing it names is adopted, signalled or read"
                )
                _ = await enqueueDelete(record.id).value
                continue
            }
            if let leader = verifiedLeader(record) {
                adopt(record, leader: leader)
            } else {
                let containment = containment
                let instanceID = dataDirectory.instanceID
                // It kills, waits and removes cgroups: on the spawner's threads.
                await launcher.executor.run { containment.cleanUpRemains(of: record, instanceID: instanceID) }
                guard !isSupervised(record) else { continue }
                _ = await enqueueDelete(record.id).value
                // It ended while corral was down (its agent exited, or is no longer the one
                // recorded): counted among the sessions ended, its status unknown.
                if record.isSession {
                    let lasted = Duration.seconds(max(0, Date().timeIntervalSince(record.createdAt)))
                    metrics.sessionEnded(agent: record.agent, reason: record.pid == nil ? .failedToStart : .exited(.unknown), after: lasted)
                }
            }
        }
        await killOrphans()
    }

    /// Whether the record's session (or its leader) is already one of this corral's: the loop
    /// above suspends between records, and an idle agent may take a session meanwhile.
    private func isSupervised(_ record: SessionRecord) -> Bool {
        table.holds(record)
    }

    /// Records of this node (or from before nodes existed); other nodes' records are theirs.
    func isOwn(_ record: SessionRecord) -> Bool {
        record.node == nil || record.node == configuration.nodeID
    }

    /// Retries failed store writes until the store answers; then, since the store may have lost
    /// what was written while it was away (a Redis restarted empty), writes every live session's
    /// record again and removes this node's records of sessions that are gone. While the store
    /// answers, it is asked every `heartbeat_interval_seconds` whether it lost this node's
    /// records all the same (a Redis restarted between two requests, or flushed).
    func storeRecoveryLoop() async {
        var delay = Duration.milliseconds(250)
        var nextLossCheck = ContinuousClock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: delay) } catch { return }
            guard !storeReachable || !unsynced.withLock(\.isEmpty) || reconciliationPending else {
                delay = .milliseconds(250)
                // Only a store that can lose records is asked: the look scans every session.
                if store.canLoseRecords, ContinuousClock.now >= nextLossCheck {
                    nextLossCheck = .now + .seconds(configuration.heartbeatIntervalSeconds)
                    await checkForLostRecords()
                }
                continue
            }
            do {
                try await store.ping()
            } catch {
                delay = min(delay * 2, .seconds(5))
                continue
            }
            delay = .milliseconds(250)
            if reconciliationPending {
                await reconcile()
                continue
            }
            let wasDown = !storeReachable
            storeReachable = true
            storeStalls.store(false, ordering: .relaxed)
            if wasDown { writesMarked = (try? await store.lostWrites(of: configuration.nodeID, markedFor: markSeconds)) != nil }
            await resynchronize(everything: wasDown, done: "the session store answers again; records re-synchronised")
        }
    }

    /// Without their records, other nodes may take these sessions' ids, and this node, restarted,
    /// would kill its own sessions as orphans.
    private func checkForLostRecords() async {
        let lost: Bool
        do {
            lost = try await store.lostWrites(of: configuration.nodeID, markedFor: markSeconds)
        } catch {
            return storeStoppedAnswering(error)
        }
        defer { writesMarked = true }
        guard lost, writesMarked else { return await rewriteMissingRecords() }
        logger.warning("the session store lost this node's records (a Redis restarted empty, or flushed); writing them again")
        await resynchronize(everything: true, done: "this node's records written again")
    }

    /// A loss that keeps the mark (keys evicted, a restore from an older snapshot, a failover to
    /// a replica that lagged) is found by asking for this node's records themselves. Those gone
    /// are written again; each write is decided and queued with no suspension in between, so a
    /// session that ended while the store answered keeps its delete last.
    private func rewriteMissingRecords() async {
        let expected = table.entries.values.filter(mayBeWrittenAgain).map(\.record)
        guard !expected.isEmpty else { return }
        let missing: [SessionID]
        do {
            missing = try await store.missingRecords(expected)
        } catch {
            return storeStoppedAnswering(error)
        }
        let rewritten = missing.compactMap { id -> (SessionID, StoreWrite)? in
            guard let entry = table.entries[id], mayBeWrittenAgain(entry) else { return nil }
            return (id, enqueueWrite(entry))
        }
        guard !rewritten.isEmpty else { return }
        logger.warning(
            "the session store lost records of this node's sessions (evicted, restored from an older copy, written over without the cluster secret, or kept in an older form); writing them again",
            metadata: ["sessions": "\(rewritten.prefix(20).map(\.0.rawValue).joined(separator: ", "))\(rewritten.count > 20 ? ", …" : "")"]
        )
        for (_, write) in rewritten { _ = await write.value }
    }

    /// Whether the entry's record is in the store for certain, and no change of it is under way:
    /// spawned (its record was inserted before: a session ended while launching may still be
    /// inserting it, or failing to), not ended (its delete is queued), and not an idle agent being
    /// handed a session (asked, or its record being replaced by the session's).
    func mayBeWrittenAgain(_ entry: SessionTable.Entry) -> Bool {
        entry.handles.tree != nil && entry.lifecycle.isRecorded && !entry.assigning && !handingOver.contains(entry.id)
    }

    /// Once it answers again, every record is written again (`storeRecoveryLoop`).
    private func storeStoppedAnswering(_ error: CorralError) {
        metrics.storeFailed()
        storeReachable = false
        logger.error("the session store does not answer", metadata: [LogKey.error: "\(error)"])
    }

    /// How long the mark of this node's writes outlives its last look: a day, or three
    /// heartbeats where those are longer (it must not expire between two looks).
    private var markSeconds: Int {
        Int(max(86_400, (configuration.heartbeatIntervalSeconds * 3).rounded(.up)))
    }

    /// Each write goes into the session's own write order, decided and queued with no suspension
    /// in between: a session that ends meanwhile queues its delete behind this write, never
    /// before it, so a deleted record cannot come back. Entries whose record is being changed
    /// are left to that change (`mayBeWrittenAgain`): an ended session stays in the table until
    /// its queued delete is written, and an update queued behind that delete would bring the
    /// record back. Those left out and still missing once settled are found by the next look
    /// (`rewriteMissingRecords`). `done` is logged once all is written.
    private func resynchronize(everything: Bool, done: String) async {
        let failed = unsynced.withLock { $0 }
        let pending = everything ? Set(table.entries.keys).union(failed) : failed
        for id in pending {
            if let entry = table.entries[id] {
                guard mayBeWrittenAgain(entry) else { continue }
                guard await enqueueWrite(entry).value else { return }
            } else {
                guard await enqueueDelete(id).value else { return }
            }
        }
        guard everything else { return }
        if let records = try? await store.allRecords() {
            // By id, former id or leader: an idle agent's hand-over may have written the session's
            // record while the table still knows it by its idle id.
            for record in records where isOwn(record) && !isSupervised(record) {
                _ = await enqueueDelete(record.id).value
            }
        }
        logger.notice("\(done)", metadata: ["sessions": "\(table.entries.count)"])
    }

    /// A session started in a cgroup this corral does not act on (it runs without cgroups now,
    /// or under another root) is held by its process group: what its cgroup holds besides the
    /// leader, in cgroups below it too (a process that left the group and lost its parent when the
    /// corral before died) is taken as sighted, as a process group's escapees are, so that its
    /// end reaches them too. The cgroup is only read, and only if the kernel places the leader in
    /// it or below it: the recorded path is data, and could name any directory (a FIFO for a file).
    static func heldWithoutItsCgroup(_ record: SessionRecord, leader: Int32, containment: any Containment) -> SessionRecord {
        guard let cgroup = record.cgroupPath, !containment.accepts(cgroupPath: cgroup), record.containment == .cgroup else { return record }
        var held = record
        held.containment = .processGroup
        guard let mount = CgroupHost.discover().v2Mount, let placed = ProcFS.cgroupV2(of: leader).map({ mount + $0 }),
            placed == cgroup || placed.hasPrefix(cgroup + "/")
        else { return held }
        let sighted = CgroupFS.processes(inSubtree: cgroup, cgroupLimit: Self.foreignCgroupLimit).filter { $0 != leader }.compactMap { pid in
            ProcFS.stat(pid).map { ProcessSighting(pid: pid, startTime: $0.startTime) }
        }
        held.sightings = Array(Set(record.sightings + sighted).sorted().prefix(ProcessSighting.recordedLimit))
        return held
    }

    /// How many cgroups of a foreign session cgroup's subtree are read (an agent running as root
    /// may make any number below its own).
    static let foreignCgroupLimit = 256

    /// A pidfd for the record's leader if it is still the session's process. The pidfd is opened
    /// first and the identity checked after, so the pidfd cannot name a process that took the
    /// pid in between.
    private func verifiedLeader(_ record: SessionRecord) -> PidFD? {
        let log = logger.about(record)
        guard let pid = record.pid, let startTime = record.leaderStartTime else {
            log.notice("removing the record of a session that never got an agent (corral stopped while starting it)")
            return nil
        }
        guard let pidFD = try? PidFD.open(pid: pid) else {
            log.notice("the session's agent is gone; removing its record and what is left of it")
            return nil
        }
        guard let stat = ProcFS.stat(pid), !stat.isZombie else {
            pidFD.close()
            log.notice("the session's agent is gone; removing its record and what is left of it")
            return nil
        }
        guard stat.startTime == startTime else {
            pidFD.close()
            log.warning(
                "pid \(pid) now belongs to another process; it is not signalled, and the session's record is removed",
                metadata: ["recorded_start_time": "\(startTime)", "start_time": "\(stat.startTime)"]
            )
            return nil
        }
        if let cgroup = record.cgroupPath, !ProcFS.isInCgroup(pid, cgroupPath: cgroup) {
            pidFD.close()
            log.warning("pid \(pid) is no longer in the session's cgroup; it is not signalled, and the session's record is removed")
            return nil
        }
        // A pid namespace's init is the first process of a namespace below corral's.
        if record.containment == .pidNamespace, !ProcFS.isSessionNamespaceInit(pid) {
            pidFD.close()
            log.warning("pid \(pid) is not the init of a pid namespace; it is not signalled, and the session's record is removed")
            return nil
        }
        // Without a cgroup below corral's root (none, or one of a corral configured otherwise
        // before), the mark is the tags corral put in the agent's environment (in the init's,
        // with a pid namespace): a pid and start time alone could be copied from any process
        // into a record.
        let carried = TaggedProcesses.session(of: pid, instanceID: dataDirectory.instanceID)
        let cgroupVouches = record.cgroupPath.map(containment.accepts(cgroupPath:)) ?? false
        if !cgroupVouches, carried != record.tag.rawValue, carried != record.id.rawValue {
            pidFD.close()
            log.warning("pid \(pid) does not carry this session's tags (CORRAL_INSTANCE_ID, CORRAL_SESSION_ID); it is not signalled, and the session's record is removed")
            return nil
        }
        return pidFD
    }

    private func adopt(_ record: SessionRecord, leader: PidFD) {
        guard let profile = configuration.agents[record.agent] else {
            // The profile is gone from the configuration: still supervise the session, with the
            // settings it was started with.
            return adopt(record, leader: leader, profile: AgentProfile(command: ["?"]))
        }
        adopt(record, leader: leader, profile: profile)
    }

    private func adopt(_ record: SessionRecord, leader: PidFD, profile: AgentProfile) {
        let record = Self.heldWithoutItsCgroup(record, leader: leader.pid, containment: containment)
        let limits = record.isTemplate ? profile.template?.limits ?? ResourceLimits() : profile.limits
        let tree = containment.adopt(record, leader: leader, limits: limits, monitor: monitor)
        let handles = SessionHandles(limits: limits)
        handles.tree = tree
        let (entry, effects) = table.insert(record, profile: profile, handles: handles, announced: record.isSession)
        perform(effects, for: entry.id, instance: entry.instance)
        let id = record.id
        let instance = entry.instance
        let sink = inboxSink
        do {
            try tree.watchLeaderExit { status in sink.yield(.leaderExited(id, instance: instance, status)) }
            handles.exitWatched = true
        } catch {
            logger.about(record).error("cannot watch an adopted agent; its exit is found by the sweeper", metadata: [LogKey.error: "\(error)"])
        }
        logger.about(record).notice(
            record.isIdle
                ? "re-adopted an idle prewarmed agent started before corral restarted"
                : record.isTemplate ? "re-adopted a template started before corral restarted" : "re-adopted a session started before corral restarted",
            metadata: [LogKey.containment: "\(tree.kind.rawValue)", "status": "\(record.status.rawValue)"]
        )
        handle(.adopted(record.status), for: entry)
        if !record.isSession, let current = table.resolve(id, instance: instance) {
            // Its assignment (or control) channel died with the earlier corral: a fresh one
            // replaces it. A template's forks are sessions of their own, adopted by their cgroups.
            logger.about(record).notice(
                record.isIdle ? "an idle prewarmed agent from before the restart is replaced" : "a template from before the restart is replaced"
            )
            handle(.endRequested(.replaced), for: current)
        }
    }

    private func killOrphans() async {
        let instanceID = dataDirectory.instanceID
        // Reading every process's environment happens off the concurrency pool; which of them
        // belong to no session is decided back on the actor, against the sessions of that moment
        // (sessions may have started during the scan), and they are killed before it suspends.
        let tagged = await Blocking.run { TaggedProcesses.find(instanceID: instanceID) { _ in true } }
        let supervised = Set(table.entries.values.flatMap { [$0.record.id.rawValue, $0.record.tag.rawValue] })
        let orphans = TaggedProcesses.kill(tagged.filter { !supervised.contains($0.sessionID) }, instanceID: instanceID)
        for orphan in orphans {
            metrics.orphanKilled()
            logger.warning("killed an orphan: a process of this corral whose session has no record", metadata: [LogKey.pid: "\(orphan.pid)", LogKey.session: "\(orphan.sessionID)"])
        }
        // Removing cgroups waits for them to empty: on the spawner's threads. A start under way
        // has no cgroup in its record yet; the containment knows its own and keeps them.
        let keep = Set(table.entries.values.compactMap(\.record.cgroupPath))
        let containment = containment
        let removed = await launcher.executor.run { containment.removeOrphanedGroups(keeping: keep) }
        for group in removed {
            metrics.orphanKilled()
            logger.warning("killed and removed an orphaned session cgroup", metadata: ["cgroup": "\(group)"])
        }
    }
}
