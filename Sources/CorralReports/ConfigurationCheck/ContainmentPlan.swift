import CorralPlatform
import CorralConfiguration
/// The containment a corral started now with a configuration would get, chosen as
/// `ContainmentSelector` chooses it but by reading the host only (`CgroupRootProbe`), and what
/// of it the configuration's owner should hear: a forced cgroup mode the host cannot provide
/// (serve would not start), a `cgroup_root` that cannot be used, a `cpu_limit` nothing would hold,
/// `detach` in a container. Pid namespaces are found out by making one (`PidNamespacePlan`).
struct ContainmentPlan {
    let plan: ConfigurationPlan.Containment
    let problems: [ConfigurationFinding]

    /// `environment` is corral serve's, which says whether it runs in a container.
    init(_ configuration: CorralConfiguration, host: CgroupHost, environment: [String: String], label: (String) -> String) {
        let configured = configuration.containment
        var problems: [ConfigurationFinding] = []
        let mode: String
        let detail: String
        var root: String?
        var enforcement: [String: String] = [:]
        if configured == .processGroup {
            (mode, detail) = ("process-group", "configured: process groups, processes that leave them tracked")
        } else if configured == .pidNamespace {
            let namespaces = PidNamespacePlan(configuration, label: label)
            (mode, detail) = (namespaces.support == nil ? "none" : "pid-namespace", namespaces.detail)
            problems += namespaces.problems
            if namespaces.support == nil {
                problems.append(
                    ConfigurationFinding(key: label("containment"), message: "pid-namespace is not available on this host (\(namespaces.detail)); corral serve would not start")
                )
            }
        } else {
            let probe = CgroupRootProbe.inspect(configured: configuration.cgroupRoot, host: host)
            root = probe.path
            if let problem = probe.problem {
                if configured == .auto {
                    let namespaces = PidNamespacePlan(configuration, label: label)
                    if namespaces.support != nil {
                        (mode, detail) = ("pid-namespace", "cgroups cannot be used here (\(problem)): \(namespaces.detail)")
                        problems += namespaces.problems
                    } else {
                        (mode, detail) = ("process-group", "cgroups cannot be used here: \(problem); \(namespaces.detail)")
                    }
                    if configuration.cgroupRoot != nil {
                        let sessions = namespaces.support == nil ? "process groups" : "pid namespaces"
                        problems.append(
                            ConfigurationFinding(key: label("cgroup_root"), message: "cannot be used here (\(problem)): sessions would get \(sessions)")
                        )
                    }
                } else {
                    (mode, detail) = ("none", "containment \(configured.rawValue) cannot be had here: \(problem)")
                    problems.append(
                        ConfigurationFinding(
                            key: label("containment"),
                            message: "\(configured.rawValue) is not available on this host (\(problem)); corral serve would not start"
                        )
                    )
                }
            } else {
                mode = "cgroup"
                enforcement = probe.enforcement
                let entry = configured == .cgroupAttach ? "moved into it before exec" : "started inside it"
                let place =
                    if configuration.cgroupRoot != nil { "" } else if CgroupDelegation.find(host: host) != nil {
                        " (the default in the cgroup delegated to corral, beside its leaf)"
                    } else {
                        " (the default, below the cgroup of the process checking: run the check where corral serve runs)"
                    }
                detail = "a cgroup per session below \(probe.path ?? "?")\(place), each agent \(entry)"
            }
        }
        var limits: [String: String] = [:]
        for controller in CgroupHost.limitControllers {
            limits[controller] = enforcement[controller] ?? (controller == "cpu" ? "not held" : "watched: the session is ended once over its limit")
        }
        if configuration.shutdown == .detach, ContainerEnvironment.detect(environment: environment) != nil {
            problems.append(ConfigurationFinding(key: label("shutdown"), message: ContainerEnvironment.detachWarning))
        }
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) where profile.cpuLimit != nil && enforcement["cpu"] == nil {
            let why = mode == "cgroup" ? "no cpu controller is available to corral's cgroups" : "sessions would not get cgroups"
            problems.append(ConfigurationFinding(key: label("agents.\(name).cpu_limit"), message: "would not be held on this host: \(why)"))
        }
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) where profile.template != nil && mode != "cgroup" {
            problems.append(
                ConfigurationFinding(
                    key: label("agents.\(name).template"),
                    message: "its sessions would start cold here: forking them from a template needs cgroup containment (\(detail))"
                )
            )
        }
        plan = ConfigurationPlan.Containment(configured: configured.rawValue, mode: mode, cgroupRoot: root, detail: detail, limits: limits)
        self.problems = problems
    }
}
