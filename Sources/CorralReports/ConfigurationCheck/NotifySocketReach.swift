import CorralPlatform
import Foundation
import CorralConfiguration

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether the agents that use corral's notify socket can reach it, for `corral check` and
/// `corral doctor`: an agent running as another `user` needs search permission on every
/// directory above the data directory (corral makes the data directory itself 0711, and the
/// socket 0666). One that cannot reach it never says `READY=1`, and its sessions time out
/// starting. Read from the directories' owners and modes only (ACLs are not read); nothing is
/// created or opened.
package enum NotifySocketReach {
    struct Problem: Equatable {
        /// The profile's name.
        let agent: String
        let message: String
    }

    /// One problem per profile whose `user` cannot reach the socket.
    static func problems(_ configuration: CorralConfiguration) -> [Problem] {
        guard let socket = configuration.notifySocketPath else { return [] }
        let directories = directoriesAbove(configuration.dataDirectory)
        var problems: [Problem] = []
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) where profile.usesNotifySocket {
            guard let user = profile.user, let blocked = directories.first(where: { !canSearch($0.info, as: user) }) else { continue }
            problems.append(
                Problem(
                    agent: name,
                    message: "uid \(user.uid) cannot search \(blocked.path) (mode \(String(blocked.info.st_mode & 0o7777, radix: 8)), "
                        + "owner uid \(blocked.info.st_uid)), on the way to the notify socket \(socket): its agents could not send "
                        + "READY=1 and would time out starting; let others search it (chmod o+x \(blocked.path)) or choose a data_dir they can reach"
                )
            )
        }
        return problems
    }

    /// The directories an agent passes through to reach a name in `dataDirectory`, outermost
    /// first, as given and with symbolic links resolved; those that do not exist are left out
    /// (corral check tells of a data directory it could not make).
    private static func directoriesAbove(_ dataDirectory: String) -> [(path: String, info: stat)] {
        let absolute = dataDirectory.hasPrefix("/") ? dataDirectory : FileManager.default.currentDirectoryPath + "/" + dataDirectory
        let parent = PathProbe.parent(of: absolute)
        var paths = chain(parent)
        if let resolved = realpath(parent, nil) {
            paths += chain(String(cString: resolved)).filter { !paths.contains($0) }
            free(resolved)
        }
        return paths.compactMap { path in
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
            return (path, info)
        }
    }

    /// `/`, `/a`, `/a/b` for `/a/b`.
    private static func chain(_ path: String) -> [String] {
        var chain = ["/"]
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            chain.append(current)
        }
        return chain
    }

    /// Search permission as the kernel decides it from the mode: the owner's bits for the
    /// owner, the group's for a member, the others' for everyone else; root passes.
    static func canSearch(_ info: stat, as user: AgentUser) -> Bool {
        if user.uid == 0 { return true }
        if info.st_uid == user.uid { return info.st_mode & 0o100 != 0 }
        if info.st_gid == user.gid || user.groups.contains(info.st_gid) { return info.st_mode & 0o010 != 0 }
        return info.st_mode & 0o001 != 0
    }
}
