import Logging

/// Chooses the containment for `containment` in the configuration, probing the host.
public enum ContainmentSelector {
    public static func select(_ configuration: CorralConfiguration, logger: Logger) throws(CorralError) -> any Containment {
        let mode = configuration.containment
        if mode == .processGroup { return ProcessGroupContainment() }
        let host = CgroupHost.discover()
        do throws(CorralError) {
            guard let path = configuration.cgroupRoot ?? CgroupRoot.defaultPath(host: host) else {
                throw CorralError(.configuration, "this host has no cgroup v2 hierarchy")
            }
            let root = try CgroupRoot(path: path, host: host)
            return CgroupContainment(root: root, placement: mode == .cgroupAttach ? .attachBeforeExec : .cloneIntoCgroup, logger: logger)
        } catch {
            guard mode == .auto else {
                throw CorralError(.configuration, "containment \(mode.rawValue) is not available: \(error.message)", underlying: error.underlying)
            }
            logger.warning(
                "cgroups are not available; sessions get process-group containment (a setsid() child that clears its environment can escape, limits are watched rather than enforced)",
                metadata: ["reason": "\(error)"]
            )
            return ProcessGroupContainment()
        }
    }
}
