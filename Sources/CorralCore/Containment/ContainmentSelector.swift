import Logging

/// Chooses the containment for `containment` in the configuration, probing the host. Start-up
/// and `corral doctor` ask the same question here, so the report says what a corral started now
/// would get.
public enum ContainmentSelector {
    /// What a corral started now with a configuration gets.
    public enum Choice: Sendable {
        /// A cgroup per session below this root, which is locked for as long as it lives.
        case cgroup(CgroupRoot)
        /// Process groups: configured (nil), or, with `auto`, because cgroups cannot be used here
        /// (why: no v2 hierarchy, a root that is not writable, a root another corral holds).
        case processGroup(fallbackFrom: CorralError?)
        /// A cgroup mode is configured and cannot be had (why): corral does not start.
        case unavailable(CorralError)
    }

    public static func choose(_ configuration: CorralConfiguration, host: CgroupHost? = nil) -> Choice {
        let mode = configuration.containment
        if mode == .processGroup { return .processGroup(fallbackFrom: nil) }
        let host = host ?? .discover()
        do throws(CorralError) {
            guard let path = configuration.cgroupRoot ?? CgroupRoot.defaultPath(host: host) else {
                throw CorralError(.configuration, "this host has no cgroup v2 hierarchy")
            }
            return .cgroup(try CgroupRoot(path: path, host: host))
        } catch {
            return mode == .auto ? .processGroup(fallbackFrom: error) : .unavailable(error)
        }
    }

    public static func select(_ configuration: CorralConfiguration, logger: Logger) throws(CorralError) -> any Containment {
        switch choose(configuration) {
        case .cgroup(let root):
            return CgroupContainment(
                root: root,
                placement: configuration.containment == .cgroupAttach ? .attachBeforeExec : .cloneIntoCgroup,
                logger: logger
            )
        case .processGroup(let reason):
            if let reason {
                logger.warning(
                    "cgroups are not available; sessions get process-group containment (a setsid() child that clears its environment can escape, limits are watched rather than enforced)",
                    metadata: ["reason": "\(reason)"]
                )
            }
            return ProcessGroupContainment()
        case .unavailable(let reason):
            throw CorralError(
                .configuration,
                "containment \(configuration.containment.rawValue) is not available: \(reason.message)",
                underlying: reason.underlying
            )
        }
    }
}
