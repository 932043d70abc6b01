import CorralPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCorralShims
import CorralConfiguration

/// What `corral doctor` says about templates: whether a template's fork can join its session's
/// cgroup through a descriptor corral opened (tried: a child, as `nobody` when run as root,
/// moving itself into a probe cgroup), and, for each profile with `template`, whether its
/// sessions would be forked here or start cold.
extension HostReport {
    /// Tries a fork joining the cgroup `directory` through its `cgroup.procs` opened here; nil if
    /// it could, else why not.
    static func probeForkJoin(_ directory: String) -> String? {
        let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return SystemError("open(\(directory)/cgroup.procs)", errno: errno).description }
        defer { Syscall.close(fd) }
        let asNobody = getuid() == 0
        let code = corral_probe_fork_join(fd, asNobody ? 1 : 0, asNobody ? 65534 : 0, asNobody ? 65534 : 0)
        return code == 0 ? nil : SystemError("a fork writing 0 to cgroup.procs" + (asNobody ? " as nobody" : ""), errno: code).description
    }

    /// The check of the probe, and one line per template profile.
    static func templateChecks(_ configuration: CorralConfiguration, cgroupMode: Bool, forkJoin: String??) -> [Check] {
        var checks: [Check] = []
        if let forkJoin {
            checks.append(
                Check(
                    name: "fork joins a cgroup", ok: forkJoin == nil,
                    detail: forkJoin.map { "refused (\($0)): profiles with template would start their sessions cold (Linux 5.16+ needed)" }
                        ?? "a template's fork moves itself into its session's cgroup through a descriptor corral opened"
                            + (getuid() == 0 ? " (as another user too)" : "")
                )
            )
        }
        let forks = cgroupMode && forkJoin.map { $0 == nil } == true
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) where profile.template != nil {
            checks.append(
                Check(
                    name: "template of \(name)", ok: forks,
                    detail: forks
                        ? "its sessions are forked from one warm template (GET /api/templates shows it while corral serves)"
                        : "its sessions would start cold here: forking needs cgroup containment and a fork that can join its cgroup"
                )
            )
        }
        return checks
    }
}
