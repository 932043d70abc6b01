import CorralPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a template's fork places itself: the session's cgroups, made by corral with the
/// session's limits (and a memory cgroup of its own, so that what the fork adds is charged to the
/// session and what it shares stays the template's), their `cgroup.procs` opened by corral for
/// writing, and the session's log. The fork's first act is to write `0` to each: the kernel
/// checks the credentials of whoever opened the file (Linux 5.16+), so a child running as the
/// profile's `user` joins cgroups it could not open itself, and runs nothing outside them.
struct ForkPlacement: Sendable {
    let cgroup: SessionCgroup
    /// `cgroup.procs` of the v2 cgroup, then of each v1 cgroup.
    let procs: [Int32]
    let logFD: Int32
    let logPath: String

    /// corral's copies of the descriptors (the template received its own).
    func closeDescriptors() {
        procs.forEach(Syscall.close)
        Syscall.close(logFD)
    }
}

extension CgroupContainment {
    /// Makes the session's cgroups and log for a fork (on the spawner's threads: it writes
    /// files and may wait for a leftover cgroup).
    func prepareFork(sessionID: SessionID, limits: ResourceLimits, dataDirectory: DataDirectory) throws(CorralError) -> ForkPlacement {
        let cgroup = try SessionCgroup(root: root, sessionID: sessionID, limits: limits, ownMemory: true)
        let procs: [Int32]
        let log: (fd: Int32, path: String)
        do throws(CorralError) {
            procs = try cgroup.openProcs()
            do throws(CorralError) {
                log = try dataDirectory.createLog(for: sessionID)
            } catch {
                procs.forEach(Syscall.close)
                throw error
            }
        } catch {
            cgroup.remove()
            throw error
        }
        return ForkPlacement(cgroup: cgroup, procs: procs, logFD: log.fd, logPath: log.path)
    }

    /// A fork that will not become a session: whatever entered its cgroups is killed, and they
    /// go (bounded: see `SessionCgroup.killAndRemove`).
    func abandonFork(_ placement: ForkPlacement) {
        placement.cgroup.killAndRemove()
    }

    /// The template's answer, checked before it becomes the session's leader: the pidfd's
    /// process is in the session's cgroups and leads its own kernel session and process group
    /// (one that has already exited is taken as it is: its exit ends the session). `register`
    /// runs as for a spawn (the leader's pid to the supervisor, its exit watched); a fork that
    /// fails the check is killed with the session's cgroup and the caller is told why.
    func adoptFork(
        _ placement: ForkPlacement,
        leader: PidFD,
        origin: UInt64,
        sessionID: SessionID,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        let pid = leader.pid
        let startTime = ProcFS.stat(pid)?.startTime
        if !leader.hasExited {
            var problem: String?
            if !placement.cgroup.contains(pid) || !placement.cgroup.containsInV1(pid) {
                problem = "its child (pid \(pid)) is not in the session's cgroups"
            } else if getsid(pid) != pid || Syscall.processGroup(of: pid) != pid {
                problem = "its child (pid \(pid)) does not lead its own session and process group"
            }
            if let problem, !leader.hasExited {
                leader.close()
                throw CorralError(.unavailable, problem)
            }
        }
        let tree = CgroupTree(
            sessionID: sessionID, leader: leader, leaderStartTime: startTime, cgroup: placement.cgroup, root: root, monitor: monitor,
            forkedFrom: origin
        )
        do throws(CorralError) {
            try register(tree)
        } catch {
            tree.detach()
            throw error
        }
        return tree
    }
}
