/// How a session's processes are held together.
public enum ContainmentKind: String, Sendable, Codable, Equatable {
    /// The agent leads its own session and process group; descendants that leave the group are
    /// not reached.
    case processGroup = "process-group"
    /// The session has its own cgroup v2: nothing it starts can leave.
    case cgroup
}
