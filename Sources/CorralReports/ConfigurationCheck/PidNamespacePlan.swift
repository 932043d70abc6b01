import CorralPlatform
import CorralCore
import CorralConfiguration
/// What `corral check` says of pid-namespace containment: whether this host gives it (found by
/// making one, as `corral serve` would: a child cloned into a new pid namespace, given its user
/// namespace's maps, and reaped at once; nothing is left and nothing is written), how ids map,
/// what it does not give, and the profiles whose `user` it cannot run.
struct PidNamespacePlan {
    let support: PidNamespaceSupport?
    /// The namespaces and what they lack, or why none can be made.
    let detail: String
    let problems: [ConfigurationFinding]

    init(_ configuration: CorralConfiguration, label: (String) -> String) {
        do throws(CorralError) {
            let support = try PidNamespaceSupport.probe(configuration.userNamespace)
            self.support = support
            detail = "\(support.summary); \(PidNamespaceSupport.notGiven)"
            problems = configuration.agents.sorted(by: { $0.key < $1.key }).compactMap { name, profile in
                guard let user = profile.user, let problem = support.problem(running: user) else { return nil }
                return ConfigurationFinding(key: label("agents.\(name).user"), message: "its sessions could not start: \(problem)")
            }
        } catch {
            support = nil
            detail = error.message
            problems = []
        }
    }
}
