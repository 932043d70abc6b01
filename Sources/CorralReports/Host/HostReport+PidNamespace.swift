import CorralPlatform
import CorralCore
import CorralConfiguration
/// What `corral doctor` says of pid namespaces and containers: whether a pid namespace per
/// session can be made here and how its ids map, when corral would use one, what escapes it, and
/// corral as a container's first process.
extension HostReport {
    static func containerChecks(_ namespaces: Result<PidNamespaceSupport, CorralError>, _ configuration: CorralConfiguration) -> [Check] {
        var checks: [Check]
        switch namespaces {
        case .success(let support):
            checks = [Check(name: "pid namespace", ok: true, detail: "\(support.summary); \(PidNamespaceSupport.notGiven)")]
        case .failure(let error):
            checks = [Check(name: "pid namespace", ok: false, detail: error.message)]
        }
        if let container = ContainerEnvironment.detect() {
            let first =
                container.corralIsFirstProcess
                ? "corral serve is its first process and reaps every orphan of it"
                : "corral serve is not its first process: orphans of the container go to another"
            checks.append(Check(name: "container", ok: true, detail: "in a container (\(container.runtime)); \(first)"))
            if configuration.shutdown == .detach {
                checks.append(Check(name: "shutdown", ok: false, detail: ContainerEnvironment.detachWarning))
            }
        }
        return checks
    }

    /// The mode and why, where corral would get pid namespaces (configured, or `auto` without
    /// cgroups), or where it is configured and cannot; nil otherwise.
    static func pidNamespaceMode(
        _ configuration: CorralConfiguration, _ namespaces: Result<PidNamespaceSupport, CorralError>, cgroupsUsable: Bool, why: String
    ) -> (String, String)? {
        let configured = configuration.containment == .pidNamespace
        guard configured || (configuration.containment == .auto && !cgroupsUsable) else { return nil }
        switch namespaces {
        case .success(let support):
            return ("pid-namespace", configured ? "forced by configuration; \(support.summary)" : "cgroups cannot be used: \(why); \(support.summary)")
        case .failure(let error):
            guard configured else { return nil }
            return ("none", "containment pid-namespace is configured, and corral will not start: \(error.message)")
        }
    }

    static let pidNamespaceEscapes = [
        Escape(name: "child that calls setsid()", contained: true, how: "it stays in the session's pid namespace, which ends with its init"),
        Escape(name: "double-forked daemon", contained: true, how: "re-parented to the namespace's init, not out of it"),
        Escape(
            name: "orphan that calls setsid() and clears its environment", contained: true,
            how: "it needs no trace: the kernel kills every process of the namespace when its init exits"),
        Escape(name: "process ignoring SIGTERM", contained: true, how: "SIGKILL to the init after grace_seconds ends the whole namespace"),
        Escape(name: "fork bomb", contained: false, how: "not capped: the session is ended once over pids_limit, checked every watch_interval_seconds"),
        Escape(name: "memory hog", contained: false, how: "not capped: the session is ended once its processes' RSS is over memory_limit_mb"),
    ]
}
