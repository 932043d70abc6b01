/// `CORRAL_<KEY>` variables set with a name no key has, but close to one (`CORRAL_GRACE_SECOND`):
/// corral would run on the file's value or the default without a word. Only near misses are
/// reported; other `CORRAL_` names belong to the CLI, to agents and to tools.
public enum MisspelledVariables {
    /// Each misspelled variable and the one it likely means, sorted.
    public static func find(in environment: [String: String]) -> [(variable: String, meant: String)] {
        let keys = ConfigurationLoader.keys.keys
        let knownNames = Set(keys.flatMap { ["CORRAL_" + $0.name.uppercased()] + $0.aliases } + others)
        // Compared without the prefix every name shares (it made CORRAL_SECRET look close to
        // CORRAL_STORE).
        let bare = keys.map { $0.name.uppercased() }
        return environment.keys.sorted().compactMap { name in
            guard name.hasPrefix("CORRAL_"), !knownNames.contains(name) else { return nil }
            return UnknownKey.nearest(to: String(name.dropFirst("CORRAL_".count)), among: bare).map { (name, "CORRAL_" + $0) }
        }
    }

    /// What else corral and its agents read: the CLI's, what agents are given, the bench's.
    static let others = [
        "CORRAL_URL", "CORRAL_TOKEN", "CORRAL_CONFIG", "CORRAL_SESSION_ID", "CORRAL_METADATA", "CORRAL_INSTANCE_ID", "CORRAL_AGENT",
        "CORRAL_TEMPLATE", "CORRAL_TEMPLATE_FD", "CORRAL_ASSIGN_FD", "CORRAL_PHASE_TIMINGS",
    ]
}
