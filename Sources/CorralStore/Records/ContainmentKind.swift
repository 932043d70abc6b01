/// How a session's processes are held together.
public enum ContainmentKind: String, Sendable, Codable, Equatable {
    /// The agent leads its own session and process group; descendants that leave the group are
    /// not reached.
    case processGroup = "process-group"
    /// The session has its own cgroup v2: nothing it starts can leave.
    case cgroup
    /// The session has a pid namespace of its own, under an init of corral's: nothing it starts
    /// can leave, and nothing outlives the init. No limits are enforced.
    case pidNamespace = "pid-namespace"
}
