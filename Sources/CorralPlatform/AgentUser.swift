/// A user (and groups) an agent runs as, resolved from names when the configuration is loaded.
public struct AgentUser: Sendable, Equatable {
    public let uid: UInt32
    public let gid: UInt32
    /// Supplementary groups.
    public let groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}
