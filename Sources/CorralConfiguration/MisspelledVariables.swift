/// `CORRAL_<KEY>` variables set with a name no key has, but close to one (`CORRAL_GRACE_SECOND`):
/// corral would run on the file's value or the default without a word. Only near misses are
/// reported; other `CORRAL_` names belong to the CLI, to agents and to tools.
public enum MisspelledVariables {
    /// Each misspelled variable and the one it likely means, sorted.
    public static func find(in environment: [String: String]) -> [(variable: String, meant: String)] {
        let known = ConfigurationLoader.keys.keys.flatMap { ["CORRAL_" + $0.name.uppercased()] + $0.aliases }
        let knownNames = Set(known + others)
        return environment.keys.sorted().compactMap { name in
            guard name.hasPrefix("CORRAL_"), !knownNames.contains(name) else { return nil }
            // Compared without the prefix every name shares (it made CORRAL_SECRET look close to
            // CORRAL_STORE).
            let bare = known.map { String($0.dropFirst("CORRAL_".count)) }
            return UnknownKey.nearest(to: String(name.dropFirst("CORRAL_".count)), among: bare).map { (name, "CORRAL_" + $0) }
        }
    }

    /// What else corral and its agents read: the CLI's, what agents are given, the bench's.
    static let others = [
        "CORRAL_URL", "CORRAL_TOKEN", "CORRAL_CONFIG", "CORRAL_SESSION_ID", "CORRAL_METADATA", "CORRAL_INSTANCE_ID", "CORRAL_AGENT",
        "CORRAL_TEMPLATE", "CORRAL_TEMPLATE_FD", "CORRAL_ASSIGN_FD", "CORRAL_PHASE_TIMINGS",
    ]
}
