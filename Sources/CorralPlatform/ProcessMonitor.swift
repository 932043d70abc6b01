import CCorralShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One thread with epoll over every watched leader's pidfd, SIGCHLD and other readable
/// descriptors (notify sockets). It reaps corral's children (leaders through their pidfd, orphans
/// of a session adopted as child subreaper) and calls the handler registered for each. Watching
/// 10,000 idle sessions costs nothing here: no thread per session, no periodic scan.
///
/// There is one per process (`shared`): children, SIGCHLD and the subreaper flag are process-wide,
/// so two monitors would steal each other's exits.
public final class ProcessMonitor: Sendable {
    public typealias ExitHandler = @Sendable (ExitStatus) -> Void
    public typealias ReadableHandler = @Sendable () -> Void

    private enum Watch {
        case leader(PidFD, ExitHandler)
        case readable(Int32, ReadableHandler)
        /// A leader a template forked (`origin` names the template): while the template lives it
        /// is the parent, and its status comes from the template's report. `awaitingReport` once
        /// it has exited (its pidfd is out of epoll then: it would stay readable for ever).
        case forked(PidFD, ExitHandler, origin: UInt64, awaitingReport: Bool)
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var leaderTokens: [Int32: UInt64] = [:]
        var nextToken: UInt64 = Token.firstWatch
        var started = false
        /// Exits templates reported for forks not watched yet (a fork that exited at once), by
        /// template and pid.
        var reports: [UInt64: [Int32: ExitStatus]] = [:]
    }

    /// Reports kept per template for forks not watched yet; past this a template is misbehaving
    /// and its reports are dropped.
    private static let maxPendingReports = 1024

    private enum Token {
        static let sigchld: UInt64 = 1
        static let inotify: UInt64 = 2
        static let firstWatch: UInt64 = 100
    }

    public static let shared = ProcessMonitor()

    /// Pulsed whenever a process of a session may have gone: a leader or an orphan was reaped,
    /// or a watched cgroup's events changed.
    public let reaped = ChangeSignal()
    private let epollFD: Int32
    private let sigchldFD: Int32
    private let inotifyFD: Int32
    private let ownSessionID: Int32
    /// corral is PID 1 (a container's first process): every orphan of the namespace comes to it,
    /// none is anyone else's to wait for, and all are reaped, those of its own session too.
    private let isFirstProcess = getpid() == 1
    private let state = Mutex(State())
    /// Spawns pass it shared (side by side), from the clone until the new leader is registered;
    /// the monitor's thread handles what epoll reports only while it holds it exclusively. See
    /// `withSpawnGate`.
    private let spawnGate = SpawnGate()

    private init() {
        epollFD = corral_epoll_create()
        sigchldFD = (try? Syscall.eventFD()) ?? -1
        ownSessionID = Syscall.currentSessionID
        inotifyFD = corral_inotify_init()
        precondition(epollFD >= 0 && sigchldFD >= 0, "cannot create the process monitor's epoll or eventfd")
        _ = corral_epoll_add(epollFD, sigchldFD, Token.sigchld)
        if inotifyFD >= 0 { _ = corral_epoll_add(epollFD, inotifyFD, Token.inotify) }
    }

    /// Becomes child subreaper, installs the SIGCHLD notifier and starts the thread (once).
    public func start() throws(SystemError) {
        let alreadyStarted = state.withLock { state in
            defer { state.started = true }
            return state.started
        }
        guard !alreadyStarted else { return }
        try Syscall.setChildSubreaper()
        try Syscall.shim("sigaction(SIGCHLD)") { corral_install_sigchld_notifier(sigchldFD) }
        let thread = Thread { [self] in
            Syscall.nameCurrentThread("corral-monitor")
            self.loop()
        }
        thread.start()
        // Children that exited before the notifier was installed.
        Syscall.signalEventFD(sigchldFD)
    }

    /// Runs `body` (which spawns a leader, tells the supervisor its pid and calls `watch`) while
    /// the monitor's thread does nothing. Spawns on other threads run beside it; the monitor
    /// waits for all of them, and new ones wait while it works. Two things rest on this:
    /// - the reaper never takes a fresh leader, not yet registered, for an orphan and reaps it;
    /// - whatever a new agent sends (`READY=1` on the notify socket) is received by a readable
    ///   handler that runs after `body` has returned, so the supervisor hears of the leader's pid
    ///   (told inside `body`) before it hears from the agent, never the other way round (it
    ///   would drop the message as coming from a process of no session).
    /// `body` must not call `withSpawnGate` again (the gate is not recursive).
    public func withSpawnGate<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try spawnGate.shared(body)
    }

    /// Whether the monitor's thread waits for spawns to leave the gate (for tests).
    package var isWaitingForSpawns: Bool { spawnGate.exclusiveWaiters > 0 }

    /// Watches a leader; `handler` runs on the monitor thread once it has exited and been reaped.
    public func watch(_ pidFD: PidFD, onExit handler: @escaping ExitHandler) throws(SystemError) -> UInt64 {
        let token = register(.leader(pidFD, handler), leader: pidFD.pid)
        try add(pidFD.descriptor, token: token, what: "pidfd \(pidFD.pid)")
        return token
    }

    /// Watches a leader forked by the template `origin` (any number naming it). corral is not
    /// its parent while the template lives: its status is what the template reports
    /// (`reportForkedExit`), or, once the template is gone (`originGone`) and the kernel has
    /// re-parented it to corral (the child subreaper), what corral reaps itself. `handler` runs
    /// once, with that status (`.unknown` if neither says).
    public func watchForked(_ pidFD: PidFD, origin: UInt64, onExit handler: @escaping ExitHandler) throws(SystemError) -> UInt64 {
        let reported = state.withLock { state -> ExitStatus?? in
            if let status = state.reports[origin]?.removeValue(forKey: pidFD.pid), pidFD.hasExited { return .some(status) }
            return .none
        }
        if let reported {
            // It exited, and was reaped and reported, before the watch began.
            handler(reported ?? .unknown)
            return 0
        }
        let token = register(.forked(pidFD, handler, origin: origin, awaitingReport: false), leader: pidFD.pid)
        try add(pidFD.descriptor, token: token, what: "pidfd \(pidFD.pid)")
        return token
    }

    /// The template `origin` says its fork `pid` exited with `status`. Taken only for a fork of
    /// that template whose pidfd says it exited; kept for a fork not watched yet.
    public func reportForkedExit(origin: UInt64, pid: Int32, status: ExitStatus) {
        let finished = state.withLock { state -> (UInt64, ExitHandler)? in
            if let token = state.leaderTokens[pid], case .forked(let pidFD, let handler, let from, _)? = state.watches[token] {
                guard from == origin, pidFD.hasExited else { return nil }
                return (token, handler)
            }
            var reports = state.reports[origin] ?? [:]
            if reports.count >= Self.maxPendingReports { reports.removeAll() }
            reports[pid] = status
            state.reports[origin] = reports
            return nil
        }
        if let (token, handler) = finished { finishLeader(token: token, status: status, handler: handler) }
    }

    /// The template `origin` forked `pid` just now: a report kept for an earlier process with
    /// that pid is not this one's.
    public func forgetForkedReport(origin: UInt64, pid: Int32) {
        _ = state.withLock { $0.reports[origin]?.removeValue(forKey: pid) }
    }

    /// The template `origin` is gone (its exit was seen, and what it had sent was read first):
    /// the kernel has already made corral the parent of its live forks, which are watched as
    /// corral's own from now on; a fork that exited unreported is reaped by corral if it can be
    /// (a zombie the template left), else its status is unknown.
    public func originGone(_ origin: UInt64) {
        let unreported = state.withLock { state -> [(UInt64, PidFD, ExitHandler)] in
            state.reports[origin] = nil
            var unreported: [(UInt64, PidFD, ExitHandler)] = []
            for (token, watch) in state.watches {
                guard case .forked(let pidFD, let handler, let from, let awaiting) = watch, from == origin else { continue }
                if awaiting {
                    unreported.append((token, pidFD, handler))
                } else {
                    // Still in epoll: its exit is reaped on its pidfd's event, or on SIGCHLD.
                    state.watches[token] = .leader(pidFD, handler)
                }
            }
            return unreported
        }
        for (token, pidFD, handler) in unreported {
            guard case .exited(let status) = pidFD.wait() else {
                finishLeader(token: token, status: .unknown, handler: handler)
                continue
            }
            finishLeader(token: token, status: status, handler: handler)
        }
    }

    /// The pids of the leaders watched now: those of corral's children that are not orphans.
    package func leaderPIDs() -> Set<Int32> {
        state.withLock { Set($0.leaderTokens.keys) }
    }

    /// Calls `handler` on the monitor thread whenever `fd` is readable, never while a spawn is in
    /// `withSpawnGate`. The fd stays the caller's.
    public func watchReadable(_ fd: Int32, handler: @escaping ReadableHandler) throws(SystemError) -> UInt64 {
        let token = register(.readable(fd, handler), leader: nil)
        try add(fd, token: token, what: "fd \(fd)")
        return token
    }

    /// Pulses `reaped` whenever the file at `path` is modified (a cgroup's `cgroup.events`).
    /// Returns nil if it cannot be watched; waiters then fall back to their periodic check.
    public func watchModifications(of path: String) -> Int32? {
        guard inotifyFD >= 0 else { return nil }
        let watch = corral_inotify_watch_modify(inotifyFD, path)
        return watch >= 0 ? watch : nil
    }

    public func unwatchModifications(_ watch: Int32) {
        _ = corral_inotify_unwatch(inotifyFD, watch)
    }

    /// Stops watching; descriptors stay open (they belong to the caller).
    public func unwatch(_ token: UInt64) {
        let watch = state.withLock { state -> Watch? in
            guard let watch = state.watches.removeValue(forKey: token) else { return nil }
            // The pid may belong to a newer leader by now: remove only this watch's entry.
            if case .leader(let pidFD, _) = watch, state.leaderTokens[pidFD.pid] == token {
                state.leaderTokens.removeValue(forKey: pidFD.pid)
            }
            if case .forked(let pidFD, _, _, _) = watch, state.leaderTokens[pidFD.pid] == token {
                state.leaderTokens.removeValue(forKey: pidFD.pid)
            }
            return watch
        }
        switch watch {
        case .leader(let pidFD, _)?, .forked(let pidFD, _, _, _)?: _ = corral_epoll_remove(epollFD, pidFD.descriptor)
        case .readable(let fd, _)?: _ = corral_epoll_remove(epollFD, fd)
        case nil: break
        }
    }

    private func register(_ watch: Watch, leader: Int32?) -> UInt64 {
        state.withLock { state in
            defer { state.nextToken += 1 }
            state.watches[state.nextToken] = watch
            if let leader { state.leaderTokens[leader] = state.nextToken }
            return state.nextToken
        }
    }

    private func add(_ fd: Int32, token: UInt64, what: String) throws(SystemError) {
        do {
            try Syscall.shim("epoll_ctl(\(what))") { corral_epoll_add(epollFD, fd, token) }
        } catch {
            unwatch(token)
            throw error
        }
    }

    // MARK: The monitor thread

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let count = tokens.withUnsafeMutableBufferPointer { buffer in
                corral_epoll_wait(epollFD, buffer.baseAddress!, Int32(buffer.count), -1)
            }
            if count < 0 { continue }  // EINTR
            // The whole batch is handled with no spawn in flight (see `withSpawnGate`).
            let outcome = spawnGate.exclusive { handle(tokens[0..<Int(count)]) }
            var reapedAny = outcome.reapedAny
            if outcome.reapBlocked { reapOneByOne(reapedAny: &reapedAny) }
            if reapedAny { reaped.pulse() }
        }
    }

    /// Under the exclusive gate.
    private func handle(_ batch: ArraySlice<UInt64>) -> (reapedAny: Bool, reapBlocked: Bool) {
        var reapedAny = false
        var reapBlocked = false
        for token in batch {
            if token == Token.sigchld {
                Syscall.drainEventFD(sigchldFD)
                reapBlocked = !reapChildren(reapedAny: &reapedAny) || reapBlocked
                continue
            }
            if token == Token.inotify {
                corral_inotify_drain(inotifyFD)
                reaped.pulse()
                continue
            }
            switch state.withLock({ $0.watches[token] }) {
            case .leader(let pidFD, let handler)?:
                guard let status = pidFD.reapIfExited() else { continue }
                finishLeader(token: token, status: status, handler: handler)
            case .readable(_, let handler)?:
                handler()
            case .forked(let pidFD, let handler, _, _)?:
                switch pidFD.wait() {
                case .running: continue
                case .exited(let status): finishLeader(token: token, status: status, handler: handler)
                case .exitedElsewhere: awaitReport(token, pidFD)
                }
            case nil:
                continue
            }
        }
        return (reapedAny, reapBlocked)
    }

    /// A fork exited while its template is its parent: its status comes from the template.
    private func awaitReport(_ token: UInt64, _ pidFD: PidFD) {
        state.withLock { state in
            if case .forked(let pidFD, let handler, let origin, false)? = state.watches[token] {
                state.watches[token] = .forked(pidFD, handler, origin: origin, awaitingReport: true)
            }
        }
        _ = corral_epoll_remove(epollFD, pidFD.descriptor)
    }

    /// The handler runs before the pulse: whoever the pulse wakes to see whether a tree is empty
    /// finds its leader's exit told.
    private func finishLeader(token: UInt64, status: ExitStatus, handler: ExitHandler) {
        unwatch(token)
        handler(status)
        reaped.pulse()
    }

    /// Reaps every exited child that belongs to a session: leaders (reported) and orphans
    /// adopted as subreaper (whose session differs from corral's own). Children in corral's
    /// own session are not corral's agents: they are left for whoever started them, unless
    /// corral is PID 1, whose children all are orphans or its own. Under the
    /// exclusive gate. Returns false if a zombie that is not ours blocks waitid(P_ALL).
    private func reapChildren(reapedAny: inout Bool) -> Bool {
        while true {
            var pid: Int32 = 0
            var code: Int32 = 0
            var status: Int32 = 0
            guard corral_waitid_pid(-1, 1, &pid, &code, &status) == 0, pid > 0 else { return true }
            guard reapOne(pid, reapedAny: &reapedAny) else { return false }
        }
    }

    /// Looks at each child instead of waitid(P_ALL). The scan reads /proc for every child, so it
    /// runs outside the gate (spawns would wait on it); each reap takes the gate again.
    private func reapOneByOne(reapedAny: inout Bool) {
        let zombies = ProcFS.childrenOfCurrentProcess().filter { ProcFS.stat($0)?.isZombie == true }
        for zombie in zombies {
            _ = spawnGate.exclusive { reapOne(zombie, reapedAny: &reapedAny) }
        }
    }

    /// Returns false if `pid` is not a child corral may reap.
    private func reapOne(_ pid: Int32, reapedAny: inout Bool) -> Bool {
        let leader = state.withLock { state -> (UInt64, Watch)? in
            guard let token = state.leaderTokens[pid], let watch = state.watches[token] else { return nil }
            return (token, watch)
        }
        if let (token, watch) = leader, case .leader(let pidFD, let handler) = watch {
            finishLeader(token: token, status: pidFD.reapIfExited() ?? .unknown, handler: handler)
            return true
        }
        if let (token, watch) = leader, case .forked(let pidFD, let handler, _, _) = watch {
            // Re-parented to corral by its template's death: corral's to reap, status and all.
            guard case .exited(let status) = pidFD.wait() else { return false }
            finishLeader(token: token, status: status, handler: handler)
            return true
        }
        guard let stat = ProcFS.stat(pid), stat.sid != ownSessionID || isFirstProcess else { return false }
        var reapedPID: Int32 = 0
        var code: Int32 = 0
        var status: Int32 = 0
        _ = corral_waitid_pid(pid, 0, &reapedPID, &code, &status)
        reapedAny = true
        return true
    }
}
