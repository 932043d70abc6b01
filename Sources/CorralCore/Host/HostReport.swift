import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What this host offers for containing sessions and what corral will use, found by trying it
/// (a probe cgroup, a probe spawn), not by guessing from versions. `corral doctor` prints it.
public struct HostReport: Sendable, Codable {
    public struct Check: Sendable, Codable {
        public let name: String
        public let ok: Bool
        public let detail: String
    }

    public struct Escape: Sendable, Codable {
        public let name: String
        public let contained: Bool
        public let how: String
    }

    public let kernel: String
    public let checks: [Check]
    /// The containment corral would choose with this configuration.
    public let mode: String
    public let modeDetail: String
    public let escapes: [Escape]
    /// False when corral could not contain even process groups here.
    public let canContain: Bool

    public static func gather(_ configuration: CorralConfiguration) -> HostReport {
        var checks: [Check] = []
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }

        let pidfd = (try? PidFD.open(pid: getpid())) != nil
        checks.append(Check(name: "pidfd_open", ok: pidfd, detail: pidfd ? "signals go through pidfds" : "not available (kernel 5.3+ needed)"))
        let subreaper = (try? Syscall.setChildSubreaper()) != nil
        checks.append(Check(name: "child subreaper", ok: subreaper, detail: subreaper ? "orphans of a session are re-parented to corral" : "prctl refused"))
        let spawn = probeSpawn(cgroupFD: nil)
        checks.append(Check(name: "spawn (clone3 + setsid)", ok: spawn == nil, detail: spawn ?? "agents lead a new session and process group"))

        let host = CgroupHost.discover()
        checks.append(
            Check(
                name: "cgroup v2 hierarchy",
                ok: host.v2Mount != nil,
                detail: host.v2Mount.map { "\($0) (corral's own cgroup: \(host.v2OwnPath))" } ?? "none mounted"
            )
        )
        var root: CgroupRoot?
        var rootInUse = false
        let rootPath = configuration.cgroupRoot ?? CgroupRoot.defaultPath(host: host)
        if let rootPath {
            do {
                root = try CgroupRoot(path: rootPath, host: host)
                checks.append(Check(name: "cgroup root", ok: true, detail: "\(rootPath) is writable"))
            } catch {
                rootInUse = error.code == .conflict
                checks.append(
                    Check(name: "cgroup root", ok: rootInUse, detail: rootInUse ? "\(rootPath) is in use by a running corral" : error.description)
                )
            }
        }
        if let root {
            let probe = root.path + "/corral-doctor-\(getpid())"
            if mkdir(probe, 0o755) == 0 {
                let fd = open(probe, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                let intoCgroup = probeSpawn(cgroupFD: fd)
                checks.append(
                    Check(
                        name: "start inside the cgroup",
                        ok: intoCgroup == nil,
                        detail: intoCgroup.map { "\($0); agents will be moved into their cgroup before exec" } ?? "agents start inside their cgroup"
                    )
                )
                let kill = CgroupFS.exists(probe + "/cgroup.kill")
                checks.append(Check(name: "cgroup.kill", ok: kill, detail: kill ? "SIGKILL to a whole session at once" : "missing (kernel 5.14+): processes are killed one by one"))
                Syscall.close(fd)
                CgroupFS.removeDirectory(probe)
            }
            for controller in CgroupHost.limitControllers {
                let enforcement = root.enforcement(of: controller)
                checks.append(Check(name: "\(controller) controller", ok: enforcement != nil, detail: enforcement ?? "not available: the limit is watched, not enforced"))
            }
        }

        let mode: String
        let modeDetail: String
        let usesCgroup: Bool
        let cgroupUsable = root != nil || rootInUse
        switch configuration.containment {
        case .processGroup:
            (mode, modeDetail, usesCgroup) = ("process-group", "forced by configuration", false)
        case .cgroup, .cgroupAttach:
            (mode, modeDetail, usesCgroup) =
                cgroupUsable
                ? ("cgroup", "forced by configuration", true)
                : ("none", "containment \(configuration.containment.rawValue) is configured but cgroups are not usable: corral will not start", false)
        case .auto:
            (mode, modeDetail, usesCgroup) =
                cgroupUsable
                ? ("cgroup", "a cgroup per session below \(rootPath ?? "")", true) : ("process-group", "no usable cgroup v2 hierarchy", false)
        }
        root?.removeIfUnused()

        let memory = root?.enforcement(of: "memory")
        let pids = root?.enforcement(of: "pids")
        let escapes: [Escape]
        if usesCgroup {
            escapes = [
                Escape(name: "child that calls setsid()", contained: true, how: "it stays in the session's cgroup"),
                Escape(name: "double-forked daemon", contained: true, how: "it stays in the session's cgroup"),
                Escape(name: "process ignoring SIGTERM", contained: true, how: "SIGKILL after grace_seconds (cgroup.kill)"),
                Escape(
                    name: "fork bomb", contained: pids != nil,
                    how: pids.map { "capped by pids_limit (\($0))" } ?? "no pids controller: the session is ended once over pids_limit, checked every watch_interval_seconds"),
                Escape(
                    name: "memory hog", contained: memory != nil,
                    how: memory.map { "capped by memory_limit_mb (\($0))" } ?? "no memory controller: the session is ended once over memory_limit_mb, checked every watch_interval_seconds"),
            ]
        } else {
            escapes = [
                Escape(name: "child that calls setsid()", contained: true, how: "found by ancestry, kernel session and CORRAL_SESSION_ID; killed by pidfd"),
                Escape(
                    name: "double-forked daemon", contained: true,
                    how: "found as an orphan re-parented to corral carrying CORRAL_SESSION_ID, or by a sighting; one that clears its environment and detaches between two passes is missed"),
                Escape(name: "process ignoring SIGTERM", contained: true, how: "SIGKILL after grace_seconds"),
                Escape(name: "fork bomb", contained: false, how: "not capped: the session is ended once over pids_limit, checked every watch_interval_seconds"),
                Escape(name: "memory hog", contained: false, how: "not capped: the session is ended once its processes' RSS is over memory_limit_mb"),
            ]
        }
        return HostReport(
            kernel: kernel,
            checks: checks,
            mode: mode,
            modeDetail: modeDetail,
            escapes: escapes,
            canContain: pidfd && spawn == nil && mode != "none"
        )
    }

    /// Spawns `/bin/true` the way agents are spawned; nil if it worked, else what failed.
    private static func probeSpawn(cgroupFD: Int32?) -> String? {
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { Syscall.close(devNull) }
        do throws(AgentSpawner.Failure) {
            let spawned = try AgentSpawner.spawn(
                SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [], outputFD: devNull, cgroupFD: cgroupFD)
            )
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
            return nil
        } catch {
            switch error {
            case .cgroupRefused(let cause), .system(let cause), .childFailed(_, let cause): return cause.description
            case .placementFailed(let cause): return cause.description
            }
        }
    }

    /// The report as text for a terminal.
    public var text: String {
        var lines = ["corral doctor", "", "kernel \(kernel)", ""]
        for check in checks {
            lines.append("\(check.ok ? "ok  " : "no  ") \(check.name): \(check.detail)")
        }
        lines.append("")
        lines.append("containment: \(mode) (\(modeDetail))")
        lines.append("")
        for escape in escapes {
            lines.append("\(escape.contained ? "contained    " : "NOT contained") \(escape.name): \(escape.how)")
        }
        if !canContain {
            lines.append("")
            lines.append("corral cannot contain sessions on this host.")
        }
        return lines.joined(separator: "\n")
    }
}
