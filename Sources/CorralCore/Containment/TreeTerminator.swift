import CorralPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the end of a session went.
public enum TerminationOutcome: String, Sendable, Codable {
    /// Nothing was left to signal: the agent and its tree had already exited.
    case exited
    /// Everything was gone within the grace period after SIGTERM.
    case terminated
    /// Something was still there after the grace period and got SIGKILL.
    case killed
}

/// Ends a contained tree: SIGTERM (and SIGCONT, so stopped processes can act on it) to all, wait
/// until nothing is left or the grace period is over, then SIGKILL until nothing is left, through
/// the tree's `killAll` (`cgroup.kill` for a cgroup: the whole session at once, where signalling
/// pid by pid races its forks). The waiting wakes on every reap (the leader's pidfd, SIGCHLD for
/// orphans) and otherwise checks at short intervals for members that other members reap.
public struct TreeTerminator: Sendable {
    let reaped: ChangeSignal
    /// The longest pause between two checks for members corral is not the parent of.
    var pollCeiling: Duration = .milliseconds(20)

    public init(reaped: ChangeSignal) {
        self.reaped = reaped
    }

    /// `listed` is given the processes that were there to signal (`memberGroups`), none if the
    /// tree was already empty.
    public func terminate(
        _ tree: any ContainedTree,
        grace: Duration,
        listed: @Sendable ([(pid: Int32, pgid: Int32)]) -> Void = { _ in }
    ) async -> TerminationOutcome {
        let clock = ContinuousClock()
        if await isEmpty(tree) {
            listed([])
            return .exited
        }
        listed(await listAndSignal(tree, [SIGTERM, SIGCONT]))
        PhaseTrace.current?.mark("signalled")
        if await waitUntilEmpty(tree, deadline: clock.now + grace) { return .terminated }
        // Processes may fork between the signal and their death: repeat until empty.
        while true {
            await kill(tree)
            if await waitUntilEmpty(tree, deadline: clock.now + .seconds(1)) { return .killed }
        }
    }

    /// Trees that read /proc to answer are asked off the concurrency pool, once the cheap checks
    /// no longer see a live member.
    private func isEmpty(_ tree: any ContainedTree) async -> Bool {
        guard tree.needsProcessTable else { return tree.isEmpty }
        if tree.isKnownNonEmpty { return false }
        return await Blocking.run(.urgent) { tree.isEmpty }
    }

    /// A cgroup names its processes in a file; other trees walk /proc for them, off the pool.
    private func listAndSignal(_ tree: any ContainedTree, _ signals: [Int32]) async -> [(pid: Int32, pgid: Int32)] {
        guard tree.kind != .cgroup else { return tree.listAndSignal(signals) }
        return await Blocking.run(.urgent) { tree.listAndSignal(signals) }
    }

    private func kill(_ tree: any ContainedTree) async {
        if tree.needsProcessTable {
            await Blocking.run(.urgent) { tree.killAll() }
        } else {
            tree.killAll()
        }
    }

    /// Returns true once the tree is empty, false at the deadline.
    public func waitUntilEmpty(_ tree: any ContainedTree, deadline: ContinuousClock.Instant) async -> Bool {
        var interval = Duration.milliseconds(1)
        while true {
            let generation = reaped.generation
            if await isEmpty(tree) { return true }
            let now = ContinuousClock.now
            if now >= deadline { return false }
            await reaped.wait(since: generation, until: min(deadline, now + interval))
            interval = min(interval * 2, pollCeiling)
        }
    }
}
