#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The uid and gid maps of a session's user namespace (pid-namespace containment where corral
/// cannot make a pid namespace alone).
///
/// Every id maps to itself: uid 1000 inside the namespace is uid 1000 outside, as it would be
/// without one. Files an agent writes belong to the same user in every mode, a profile's `user`
/// is switched to as it is elsewhere, and `ps` on the host shows the users it always shows. What
/// changes is capabilities: an agent running as root has them in its own namespaces only, none
/// over the host's (or the container's) resources. With CAP_SETUID (CAP_SETGID for groups) corral
/// maps every id its own namespace has; without, the kernel lets it map only its own id, so the
/// agents run as corral's user and no profile can name another (nor supplementary groups:
/// `setgroups` is denied in the namespace, as the kernel requires for such a map).
public struct UserNamespaceMap: Sendable, Equatable {
    /// Ids `first..<first + count`, each mapped to itself.
    public struct Range: Sendable, Equatable {
        public let first: UInt32
        public let count: UInt32

        public init(first: UInt32, count: UInt32) {
            self.first = first
            self.count = count
        }

        func contains(_ id: UInt32) -> Bool { id >= first && UInt64(id) < UInt64(first) + UInt64(count) }
    }

    public let uids: [Range]
    public let gids: [Range]
    /// `setgroups` is denied in the namespace (a gid map written without CAP_SETGID).
    public let deniesSetgroups: Bool

    public init(uids: [Range], gids: [Range], deniesSetgroups: Bool) {
        self.uids = uids
        self.gids = gids
        self.deniesSetgroups = deniesSetgroups
    }

    /// What corral may write for a namespace it makes, given its capabilities and its own maps.
    public static func forCorral(capabilities: Capabilities = .current()) -> UserNamespaceMap {
        let uids = capabilities.has(Capabilities.setUID) ? ownRanges("uid_map") : nil
        let gids = capabilities.has(Capabilities.setGID) ? ownRanges("gid_map") : nil
        return UserNamespaceMap(
            uids: uids ?? [Range(first: geteuid(), count: 1)],
            gids: gids ?? [Range(first: getegid(), count: 1)],
            deniesSetgroups: gids == nil
        )
    }

    /// The ids corral's own namespace has (the first column of its map), or nil if the map cannot
    /// be read.
    private static func ownRanges(_ file: String) -> [Range]? {
        guard let bytes = ProcFS.readFile("/proc/self/\(file)", limit: 64 * 1024) else { return nil }
        let ranges = bytes.split(separator: UInt8(ascii: "\n")).compactMap { line -> Range? in
            let fields = line.split(separator: UInt8(ascii: " ")).compactMap { UInt32(String(decoding: $0, as: UTF8.self)) }
            return fields.count == 3 ? Range(first: fields[0], count: fields[2]) : nil
        }
        return ranges.isEmpty ? nil : ranges
    }

    /// `uid_map`'s contents: one "inside outside count" line per range.
    public var uidMapText: String { Self.text(uids) }
    public var gidMapText: String { Self.text(gids) }

    private static func text(_ ranges: [Range]) -> String {
        ranges.map { "\($0.first) \($0.first) \($0.count)\n" }.joined()
    }

    /// Why an agent cannot switch to `user` in such a namespace, or nil if it can.
    public func problem(running user: AgentUser) -> String? {
        if !uids.contains(where: { $0.contains(user.uid) }) {
            return "uid \(user.uid) is not mapped in the sessions' user namespaces (\(summary))"
        }
        if !gids.contains(where: { $0.contains(user.gid) }) {
            return "gid \(user.gid) is not mapped in the sessions' user namespaces (\(summary))"
        }
        if deniesSetgroups {
            // Switching users sets the groups too, which such a namespace refuses.
            return "corral lacks CAP_SETGID, so its sessions' user namespaces deny setgroups and no agent can switch users; leave `user` out"
        }
        if let group = user.groups.first(where: { gid in !gids.contains(where: { $0.contains(gid) }) }) {
            return "group \(group) is not mapped in the sessions' user namespaces (\(summary))"
        }
        return nil
    }

    /// What maps to what, in a sentence.
    public var summary: String {
        "uids \(Self.describe(uids)) and gids \(Self.describe(gids)) map to themselves"
            + (deniesSetgroups ? ", setgroups denied" : "")
    }

    private static func describe(_ ranges: [Range]) -> String {
        ranges.map { $0.count == 1 ? "\($0.first)" : "\($0.first)-\(UInt64($0.first) + UInt64($0.count) - 1)" }.joined(separator: ",")
    }
}
