/// What a caller of the API may do. Each role includes the ones below it.
public enum Role: String, Sendable, Codable, Comparable, CaseIterable {
    /// List and inspect sessions, read logs and events.
    case read
    /// Also start and end sessions.
    case operate
    /// Also see full command lines and environments, unredacted.
    case admin

    private var rank: Int {
        switch self {
        case .read: 0
        case .operate: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// Who is calling, as the token they presented says.
public struct Identity: Sendable, Equatable {
    public let name: String
    public let role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }

    /// Everyone, when no token is configured (local use). Not admin: whatever reaches corral
    /// without a token (a local program, a page in a browser that got past the Host and origin
    /// checks) sees command lines redacted and no environments.
    public static let unauthenticated = Identity(name: "anonymous", role: .operate)
}

/// A token that may call the API: its name (for the audit log), the SHA-256 of its value (the
/// value itself is never stored), and its role.
public struct AccessToken: Sendable, Equatable {
    public let name: String
    /// 32 bytes.
    public let sha256: [UInt8]
    public let role: Role

    public init(name: String, sha256: [UInt8], role: Role) {
        self.name = name
        self.sha256 = sha256
        self.role = role
    }
}
