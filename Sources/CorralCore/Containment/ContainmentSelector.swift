import CorralPlatform
import Logging
import CorralConfiguration

/// Chooses the containment for `containment` in the configuration, probing the host. Start-up
/// and `corral doctor` ask the same question here, so the report says what a corral started now
/// would get.
public enum ContainmentSelector {
    /// What a corral started now with a configuration gets.
    public enum Choice: Sendable {
        /// A cgroup per session below this root, which is locked for as long as it lives.
        case cgroup(CgroupRoot)
        /// A pid namespace per session: configured (nil), or, with `auto`, because cgroups cannot
        /// be used here (why).
        case pidNamespace(PidNamespaceSupport, fallbackFrom: CorralError?)
        /// Process groups: configured (nil), or, with `auto`, because neither cgroups nor pid
        /// namespaces can be used here (why: no v2 hierarchy, a root that is not writable, a root
        /// another corral holds; and what refused the namespaces).
        case processGroup(fallbackFrom: CorralError?)
        /// A cgroup mode is configured and cannot be had (why): corral does not start.
        case unavailable(CorralError)
    }

    public static func choose(_ configuration: CorralConfiguration, host: CgroupHost? = nil) -> Choice {
        let mode = configuration.containment
        if mode == .processGroup { return .processGroup(fallbackFrom: nil) }
        if mode == .pidNamespace { return choosePidNamespace(configuration, fallbackFrom: nil) }
        let host = host ?? .discover()
        do throws(CorralError) {
            guard let path = configuration.cgroupRoot ?? CgroupRoot.defaultPath(host: host) else {
                throw CorralError(.configuration, "this host has no cgroup v2 hierarchy")
            }
            return .cgroup(try CgroupRoot(path: path, host: host))
        } catch {
            return mode == .auto ? choosePidNamespace(configuration, fallbackFrom: error) : .unavailable(error)
        }
    }

    /// A pid namespace per session if one can be made here; else, after a cgroup failed
    /// (`auto`), process groups, with both reasons.
    private static func choosePidNamespace(_ configuration: CorralConfiguration, fallbackFrom cgroupError: CorralError?) -> Choice {
        do throws(CorralError) {
            return .pidNamespace(try PidNamespaceSupport.probe(configuration.userNamespace), fallbackFrom: cgroupError)
        } catch {
            guard let cgroupError else { return .unavailable(error) }
            return .processGroup(fallbackFrom: CorralError(.configuration, "\(cgroupError.message); \(error.message)", underlying: cgroupError.underlying))
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
        case .pidNamespace(let support, let reason):
            if let reason {
                logger.notice(
                    "cgroups are not available; sessions get a pid namespace each (nothing escapes it; limits are watched rather than enforced)",
                    metadata: ["reason": "\(reason)", "namespaces": "\(support.summary)"]
                )
            }
            return PidNamespaceContainment(support: support, grace: .seconds(configuration.graceSeconds))
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
