import CorralPlatform
import Foundation
import CorralConfiguration
import CorralCore

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
    /// The containment a corral started now with this configuration would get (a cgroup root
    /// that another corral holds is not to be had), and why.
    public let mode: String
    public let modeDetail: String
    public let escapes: [Escape]
    /// False when corral could not contain even process groups here.
    public let canContain: Bool
    /// Every other `corral serve` on this host: run by systemd or not, with a delegated cgroup or not.
    public let runningCorrals: [RunningCorral]
    /// The cgroup root this configuration names, held by a running corral: that corral's own
    /// containment, which `mode` (what a second corral would get) is not.
    public let heldCgroupRoot: HeldCgroupRoot?

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
        checks.append(Check(name: "systemd", ok: true, detail: supervision(host: host)))
        if let socket = configuration.notifySocketPath {
            let unreachable = NotifySocketReach.problems(configuration)
            checks.append(
                Check(
                    name: "notify socket", ok: unreachable.isEmpty,
                    detail: unreachable.isEmpty
                        ? "\(socket): every agent that uses it can reach it"
                        : unreachable.map { "agents.\($0.agent).user: \($0.message)" }.joined(separator: "; ")
                )
            )
        }

        // With process groups configured, cgroups are probed all the same: the report says what
        // the host offers as well as what corral uses.
        var probed = configuration
        if [.processGroup, .pidNamespace].contains(probed.containment) { probed.containment = .auto }
        var root: CgroupRoot?
        var cgroupError: CorralError?
        switch ContainmentSelector.choose(probed, host: host) {
        case .cgroup(let chosen): root = chosen
        case .pidNamespace(_, let error), .processGroup(let error): cgroupError = error
        case .unavailable(let error): cgroupError = error
        }
        // Another corral holds the root: what its sessions have is read from the root.
        let held = cgroupError?.code == .conflict
            ? (configuration.cgroupRoot ?? CgroupRoot.defaultPath(host: host)).flatMap { HeldCgroupRoot.find(path: $0, host: host) }
            : nil
        let namespaces = Result { () throws(CorralError) in try PidNamespaceSupport.probe(configuration.userNamespace) }
        checks += containerChecks(namespaces, configuration)
        if let root {
            checks.append(Check(name: "cgroup root", ok: true, detail: "\(root.path) is writable"))
        } else if let cgroupError, host.v2Mount != nil {
            checks.append(Check(name: "cgroup root", ok: false, detail: cgroupError.description))
        }
        var cgroupKill = false
        var forkJoin: String??
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
                cgroupKill = CgroupFS.exists(probe + "/cgroup.kill")
                checks.append(
                    Check(
                        name: "cgroup.kill", ok: cgroupKill,
                        detail: cgroupKill ? "SIGKILL to a whole session at once" : "missing (kernel 5.14+): processes are killed one by one"
                    )
                )
                Syscall.close(fd)
                forkJoin = .some(probeForkJoin(probe))
                CgroupFS.removeDirectory(probe)
            }
            for controller in CgroupHost.limitControllers {
                let enforcement = root.enforcement(of: controller)
                checks.append(Check(name: "\(controller) controller", ok: enforcement != nil, detail: enforcement ?? "not available: the limit is watched, not enforced"))
            }
        }

        // What a corral started now with this configuration gets, and why.
        let mode: String
        let modeDetail: String
        let why = cgroupError?.description ?? "cgroups cannot be used"
        if configuration.containment == .processGroup {
            (mode, modeDetail) = ("process-group", "forced by configuration")
        } else if let pidNamespace = pidNamespaceMode(configuration, namespaces, cgroupsUsable: root != nil, why: why) {
            (mode, modeDetail) = pidNamespace
        } else if let root {
            let perSession = "a cgroup per session below \(root.path)"
            (mode, modeDetail) = ("cgroup", configuration.containment == .auto ? perSession : "forced by configuration; \(perSession)")
        } else if configuration.containment == .auto {
            (mode, modeDetail) = ("process-group", "cgroups cannot be used: \(why)")
        } else {
            (mode, modeDetail) = ("none", "containment \(configuration.containment.rawValue) is configured, and corral will not start: \(why)")
        }
        let usesCgroup = mode == "cgroup"
        root?.removeIfUnused()
        checks += templateChecks(configuration, cgroupMode: usesCgroup, forkJoin: forkJoin)

        let escapes = mode == "pid-namespace"
            ? pidNamespaceEscapes
            : Self.catches(cgroup: usesCgroup, cgroupKill: cgroupKill, memory: root?.enforcement(of: "memory"), pids: root?.enforcement(of: "pids"))
        return HostReport(
            kernel: kernel,
            checks: checks,
            mode: mode,
            modeDetail: modeDetail,
            escapes: escapes,
            // A running corral that holds the root contains its sessions, whatever a second one would get.
            canContain: pidfd && spawn == nil && (mode != "none" || held != nil),
            runningCorrals: RunningCorral.find(host: host),
            heldCgroupRoot: held
        )
    }

    /// Whether systemd runs this process, and whether it delegated its cgroup.
    private static func supervision(host: CgroupHost) -> String {
        let manager = ServiceManager(environment: ProcessInfo.processInfo.environment)
        let run = manager.isSystemd ? "this process was started by systemd" : "this process was not started by systemd"
        guard let delegation = CgroupDelegation.find(host: host) else {
            return run + "; its cgroup is not delegated (a unit with Delegate=yes, as deploy/systemd/corral.service, gives corral serve one)"
        }
        return run + "; its cgroup \(delegation.directory) is delegated: corral serve runs in \(delegation.supervisorDirectory), sessions below \(delegation.defaultRoot)"
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
        if let heldCgroupRoot {
            lines.append("")
            lines.append("containment of the running corral: \(heldCgroupRoot.summary)")
            lines.append("")
            lines += Self.lines(heldCgroupRoot.escapes)
            lines.append("")
            lines.append("containment a second corral started now would get: \(mode) (\(modeDetail))")
        } else {
            lines.append("")
            lines.append("containment: \(mode) (\(modeDetail))")
        }
        lines.append("")
        lines += Self.lines(escapes)
        lines.append("")
        if runningCorrals.isEmpty { lines.append("no other corral serve runs on this host") }
        for corral in runningCorrals { lines.append("corral serve running: \(corral.summary)") }
        if !canContain {
            lines.append("")
            lines.append("corral cannot contain sessions on this host.")
        }
        return lines.joined(separator: "\n")
    }
}
