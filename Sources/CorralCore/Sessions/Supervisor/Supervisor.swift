import CorralPlatform
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import CorralConfiguration
import CorralStore

/// The only place that changes sessions. What exists and what happens next is decided by values
/// (`SessionTable`, each session's `SessionLifecycle`, the `PrewarmPlanner`); the actor carries
/// their decisions out: store writes (in order, `SessionWriteQueue`), spawns on the spawner's
/// threads (`AgentLauncher`), terminations, timers, events and metrics. A swift-service-lifecycle
/// `Service`: on graceful shutdown it ends (or drains, or leaves) every session.
public actor Supervisor: Service {
    enum Event: Sendable {
        /// A spawned leader is known by its pid from now on (before it can say anything).
        case leaderStarted(SessionID, instance: UInt64, pid: Int32)
        case leaderExited(SessionID, instance: UInt64, ExitStatus)
        case notification(NotifySender, message: String)
        /// A template's control channel failed (garbage, closed): the template is replaced.
        case templateFailed(SessionID, instance: UInt64, TemplateChannel.Failure)
    }

    let configuration: CorralConfiguration
    let store: any SessionStore
    /// The store, where it can be written on the actor itself (SQLite).
    let inlineStore: (any InlineWritableStore)?
    let containment: any Containment
    let dataDirectory: DataDirectory
    let monitor: ProcessMonitor
    let launcher: AgentLauncher
    let terminator: TreeTerminator
    let metrics: CorralMetrics
    public nonisolated let events: EventBus
    let logger: Logger
    let inheritedEnvironment: [String: String]
    /// Variables a session's agent gets on top of its profile's (e.g. LiveKit credentials),
    /// computed when it is spawned.
    public typealias CredentialProvider = @Sendable (SessionRecord, AgentProfile) -> [String: String]
    let credentials: CredentialProvider?
    /// Exits, new leaders and notify messages from other threads, handled in order on the actor.
    let inbox: AsyncStream<Event>
    let inboxSink: AsyncStream<Event>.Continuation
    /// Asks the refill loop to look at the prewarm pools.
    let refills: AsyncStream<Void>
    let refillSink: AsyncStream<Void>.Continuation

    /// Every session and idle agent, and the decisions about them.
    var table: SessionTable
    /// Which idle agents to start, and which takes a session.
    var planner: PrewarmPlanner
    /// Each template profile's template, its backoff and its fork queue.
    var templates: TemplatePlanner
    /// Asks the template loop to look at the templates.
    let templateWakes: AsyncStream<Void>
    let templateWakeSink: AsyncStream<Void>.Continuation
    /// Fork requests prepared and waiting for their turn, told the template to send to (nil:
    /// none is ready any more, the start goes cold).
    var forkTurns: [UInt64: CheckedContinuation<SessionID?, Never>] = [:]
    var lastForkRequest: UInt64 = 0
    let writes = SessionWriteQueue()
    /// Every session's deadline and startup timeout (see `Supervisor+Timers`).
    var timers = SessionTimers()
    var timerWake: TimerWake?
    /// Sessions whose last store write failed: written again (or deleted) once the store
    /// answers. Under a lock, so that a write that succeeds ends without a hop to the actor.
    let unsynced = Mutex<Set<SessionID>>([])
    /// Sessions whose record in the store is another node's (`conflict`): their later writes
    /// are refused too, and logged once, not at each. Left at the session's delete.
    let refusedRecords = Mutex<Set<SessionID>>([])
    /// False from a failed store operation until one succeeds again.
    var storeReachable = true
    /// The last write probe `/readyz` made, kept a second (`readinessProblem`).
    var lastStoreProbe: (at: ContinuousClock.Instant, problem: String?)?
    /// A store write failed only after waiting (a store that stalls rather than refuses), and
    /// none has succeeded since: queued writes are not tried meanwhile (`write(_:about:inline:)`).
    let storeStalls = Atomic<Bool>(false)
    /// Start-up reconciliation could not read the store; it runs once the store answers.
    var reconciliationPending = false
    /// The store holds the mark of this node's writes, left when its records were read or last
    /// written in full: from then on, a store found without it lost them (`checkForLostRecords`).
    var writesMarked = false
    /// Idle agents whose record is being replaced by their session's (`handOver`): between the
    /// replace and the table's change their idle record is gone from the store on purpose.
    var handingOver: Set<SessionID> = []
    var notifySocket: NotifySocket?
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
        inlineStore = store as? any InlineWritableStore
        self.containment = containment
        self.monitor = .shared
        self.launcher = AgentLauncher(containment: containment, monitor: .shared, dataDirectory: dataDirectory, executor: .shared)
        self.terminator = TreeTerminator(reaped: ProcessMonitor.shared.reaped)
        self.metrics = metrics
        self.events = events
        self.credentials = credentials
        self.logger = logger
        self.inheritedEnvironment = environment
        (inbox, inboxSink) = AsyncStream.makeStream(of: Event.self)
        (refills, refillSink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        table = SessionTable(capacity: configuration.maxSessions)
        planner = PrewarmPlanner(profiles: configuration.agents)
        templates = TemplatePlanner(profiles: configuration.agents, forking: containment.kind == .cgroup && containment is CgroupContainment)
        (templateWakes, templateWakeSink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
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
            if let path = configuration.notifySocketPath {
                let socket = try NotifySocket(path: path)
                let sink = inboxSink
                // On the monitor's thread, which reaps: a few datagrams at a time, and /proc read
                // only for a READY=1, once a wake per sender (agents, or anyone, may send without
                // pause: their noise must not keep the READY=1 of others from being heard).
                notifyToken = try monitor.watchReadable(socket.descriptor) {
                    var placed: [Int32: NotifySender] = [:]
                    socket.receiveEach(atMost: 64) { pid, message in
                        var sender = NotifySender(pid: pid)
                        if NotifySender.saysReady(message) {
                            sender = placed[pid] ?? NotifySender.read(pid)
                            placed[pid] = sender
                        }
                        sink.yield(.notification(sender, message: message))
                    }
                }
                notifySocket = socket
            }
        } catch {
            throw CorralError(.system, "cannot set up process supervision", underlying: error)
        }
        if let limit = Syscall.raiseOpenFileLimit() {
            logger.debug("open file limit", metadata: ["limit": "\(limit)"])
        }
        await reconcile()
        accepting = true
        refillPools()
        keepTemplates()
        if containment.kind == .processGroup {
            for (name, profile) in configuration.agents where profile.cpuLimit != nil {
                logger.warning("cpu_limit cannot be enforced without cgroups", metadata: [LogKey.agent: "\(name)"])
            }
        }
        for (name, profile) in configuration.agents where profile.template != nil && !templates.has(name) {
            logger.warning(
                "this profile's sessions start cold: forking them from a template needs cgroup containment",
                metadata: [LogKey.agent: "\(name)", LogKey.containment: "\(containment.kind.rawValue)"]
            )
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
            group.addTask { await self.refillLoop() }
            group.addTask { await self.templateLoop() }
            group.addTask { await self.sweepPeriodically() }
            group.addTask { await self.watchPeriodically() }
            group.addTask { await self.storeRecoveryLoop() }
            try? await gracefulShutdown()
            await self.shutdown()
            group.cancelAll()
        }
    }

    /// What happens to sessions when corral stops, per `shutdown`: ended (`terminate`), given
    /// time to end by themselves first (`drain`), or left running for the next corral
    /// (`detach`). New sessions are refused from the start.
    public func shutdown() async {
        accepting = false
        logger.info("corral stopping", metadata: ["shutdown": "\(configuration.shutdown.rawValue)", "sessions": "\(table.entries.values.count(where: \.isSession))"])
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
        timerWake?.task.cancel()
        timerWake = nil
        // It removes cgroups: on the spawner's threads.
        let containment = containment
        await launcher.executor.run { containment.stopped() }
        events.finishAll()
        if PhaseTrace.enabled { FileHandle.standardError.write(Data((PhaseTrace.report() + "\n").utf8)) }
    }

    // MARK: Carrying out decisions

    /// Carries out what the table decided about the session `id` named at `instance`.
    func perform(_ effects: [SessionTable.Effect], for id: SessionID, instance: UInt64) {
        for effect in effects {
            switch effect {
            case .count(let bucket, let count):
                metrics.count(bucket, count)
            case .refill:
                refillPools()
            case .statusChanged(let status):
                guard let entry = table.resolve(id, instance: instance) else { continue }
                events.publish(.status(status), session: entry.record)
            case .lifecycle(let action):
                guard let entry = table.resolve(id, instance: instance) else { continue }
                perform(action, for: entry)
            }
        }
    }

    /// Feeds a lifecycle event to the session and carries out what follows.
    func handle(_ event: SessionLifecycle.Event, for entry: SessionTable.Entry) {
        perform(table.handle(event, for: entry.id, instance: entry.instance), for: entry.id, instance: entry.instance)
    }

    private func perform(_ action: SessionLifecycle.Action, for entry: SessionTable.Entry) {
        switch action {
        case .persist:
            enqueueWrite(entry)
        case .startDeadlineTimer:
            setTimer(.deadline, for: entry, at: entry.record.expiresAt)
        case .startStartupTimer:
            let timeout = entry.isTemplate ? entry.profile.template?.startupTimeoutSeconds : nil
            setTimer(.startup, for: entry, at: entry.record.createdAt.addingTimeInterval(timeout ?? configuration.startupTimeoutSeconds))
        case .cancelStartupTimer:
            cancelTimer(.startup, for: entry)
        case .cancelTimers:
            cancelTimers(entry.id, instance: entry.instance)
        case .terminate(let reason):
            beginTermination(entry, reason: reason)
        case .remove(let reason):
            remove(entry, reason: reason)
        }
    }

    func deliver(_ event: SessionLifecycle.Event, to id: SessionID, instance: UInt64) {
        perform(table.handle(event, for: id, instance: instance), for: id, instance: instance)
    }

    // MARK: Errors

    static func unknownSession(_ id: SessionID) -> CorralError {
        CorralError(.notFound, "no session '\(id)' (it may have ended)")
    }

    var notAccepting: CorralError {
        CorralError(
            .unavailable,
            !prepared ? "corral is still starting; try again"
                : configuration.shutdown == .drain ? "corral is draining before it stops; no new sessions are accepted"
                : "corral is shutting down; no new sessions are accepted"
        )
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
