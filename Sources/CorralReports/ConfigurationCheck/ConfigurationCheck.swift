import CorralPlatform
import CorralSecurity
import Foundation
import CorralConfiguration

/// `corral check`: a configuration loaded as `corral serve` loads it (the file, the environment's
/// `CORRAL_<KEY>` over it, every key and every reference between keys checked the same way), and
/// what corral would do with it, without starting anything: no socket, no store, no cgroup, no
/// agent, and no file written.
///
/// What the loader refuses is refused here (`refused`: serve exits with 2 for it). What depends
/// on the host rather than on the configuration is a warning, or an error with `strict`, so that
/// a configuration can be checked away from the host it is meant for: files the keys name that
/// cannot be read or made here, agent programs not found, users this host lacks, a containment
/// the host cannot provide. The host is only read: cgroups are looked at, not probed by making
/// one, and no server a URL names is contacted; only whether a pid namespace can be made is
/// found out by making one, for a child that exits at once (`PidNamespacePlan`).
///
/// What it shows is redacted as the API redacts it for non-admins (`redact_patterns`): it runs
/// as a unit's `ExecStartPre=`, so its output lands in the journal. The plan's command lines and
/// URLs, and every finding's message (a loader error quotes the value it refuses), key kept.
public struct ConfigurationCheck: Sendable {
    public enum Severity: Sendable {
        /// `corral serve` would refuse the configuration at start-up (and exit with 2).
        case refusal
        case error
        /// About this host; an error with `strict`.
        case warning
    }

    public let file: String?
    public let strict: Bool
    /// The configuration, where it loaded.
    public let configuration: CorralConfiguration?
    /// What corral would do, where the configuration loaded.
    public let plan: ConfigurationPlan?
    public private(set) var errors: [ConfigurationFinding] = []
    public private(set) var warnings: [ConfigurationFinding] = []
    /// Some error is one `corral serve` refuses to start with (exit status 2).
    public private(set) var refused = false
    /// The configuration's, or the default patterns where it did not load.
    private var redactor = Redactor()

    /// - Parameters:
    ///   - file: the configuration file (nil: the embedded defaults, as `corral serve` without one).
    ///   - environment: the environment `corral serve` would see: `CORRAL_<KEY>` overrides, and
    ///     the `PATH` agents' programs are looked up in.
    ///   - workingDirectory: the directory `corral serve` would be started in.
    public init(
        file: String?,
        environment: [String: String],
        workingDirectory: String = FileManager.default.currentDirectoryPath,
        strict: Bool = false,
        host: CgroupHost = .discover()
    ) {
        self.file = file
        self.strict = strict
        let read: ConfigurationLoader.Read
        do {
            read = try ConfigurationLoader.read(
                file: file, environment: environment, workingDirectory: workingDirectory, readingPastHostProblems: true
            )
        } catch {
            configuration = nil
            plan = nil
            add(ConfigurationFinding(loading: error), .refusal)
            return
        }
        let configuration = read.configuration
        redactor = Redactor(patterns: configuration.redactPatterns)
        let label = { (path: String) in read.given[path] ?? path }
        var problems = read.hostProblems + Self.fileProblems(configuration, workingDirectory: workingDirectory, label: label)
        var agents: [String: AgentResolution] = [:]
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) {
            let resolution = AgentResolution(
                profile, agentPath: profile.environment["PATH"] ?? environment["PATH"], workingDirectory: workingDirectory
            )
            agents[name] = resolution
            // The embedded demo agent's script is written by serve at start-up.
            let isDemo = name == DemoAgent.profileName && profile == DemoAgent.profile(dataDirectory: configuration.dataDirectory)
            if let problem = resolution.problem, !isDemo {
                problems.append(ConfigurationFinding(key: label("agents.\(name).command"), message: problem))
            }
        }
        let containment = ContainmentPlan(configuration, host: host, environment: environment, label: label)
        self.configuration = configuration
        plan = ConfigurationPlan(configuration, agents: agents, containment: containment.plan, redactor: redactor)
        for problem in problems + containment.problems { add(problem, .warning) }
        for (variable, meant) in MisspelledVariables.find(in: environment) {
            add(ConfigurationFinding(key: variable, message: "corral reads no such variable; did you mean \(meant)?"), .warning)
        }
    }

    /// Adds what a caller checks itself (serve's own refusals, in CorralServer), redacted.
    public mutating func add(_ finding: ConfigurationFinding, _ severity: Severity) {
        let finding = finding.redacted(by: redactor)
        switch severity {
        case .refusal:
            refused = true
            errors.append(finding)
        case .error:
            errors.append(finding)
        case .warning:
            if strict { errors.append(finding) } else { warnings.append(finding) }
        }
    }

    /// 0: `corral serve` would accept the configuration (there may be warnings); 1: there are
    /// errors (warnings, with `strict`); 2: it is refused as serve refuses one (serve's 2).
    public var exitStatus: Int32 {
        refused ? 2 : errors.isEmpty ? 0 : 1
    }
}
