import CorralCore
import CorralPlatform
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Whether this host lets tests create cgroups, and where.
public enum CgroupSupport {
    /// corral's own cgroup in the v2 hierarchy if a child cgroup can be created there, else nil.
    public static let parent: String? = {
        guard let directory = CgroupHost.discover().v2OwnDirectory else { return nil }
        let probe = directory + "/corral-test-probe-\(getpid())"
        guard mkdir(probe, 0o755) == 0 else { return nil }
        rmdir(probe)
        return directory
    }()

    public static var available: Bool { parent != nil }

    /// A new path below `parent` for a cgroup of the test's own (not created).
    public static func newTestPath() -> String {
        parent! + "/corral-test-" + UUID().uuidString
    }

    public static let unavailableReason = "no writable cgroup v2 hierarchy on this host: cgroup containment tests are skipped"

    /// The cgroup root `path` and the v1 directories corral makes beside it for limits (same
    /// name, below the test's own cgroup in each v1 hierarchy), those that exist: all of them
    /// must be gone once corral stops.
    public static func leftovers(ofRoot path: String) -> [String] {
        let name = String(path.split(separator: "/").last ?? "")
        let v1 = CgroupHost.discover().v1
        let twins = v1.keys.sorted().compactMap { v1[$0].map { $0.ownDirectory + "/" + name } }
        return ([path] + twins).filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// Removes a cgroup tree a test left (children first), after killing what is in it, with
    /// its v1 twins if it was a corral root (see `leftovers(ofRoot:)`).
    public static func removeTree(_ path: String) {
        for directory in leftovers(ofRoot: path) { removeSubtree(directory) }
    }

    private static func removeSubtree(_ path: String) {
        if let children = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for child in children where !child.contains(".") || child.hasPrefix("s-") || child.hasPrefix("corral") {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    removeSubtree(path + "/" + child)
                }
            }
        }
        // cgroup.kill is v2's; a v1 twin holds what its v2 tree held, killed first.
        try? "1".write(toFile: path + "/cgroup.kill", atomically: false, encoding: .utf8)
        for _ in 0..<100 {
            if rmdir(path) == 0 || errno == ENOENT { break }
            usleep(10_000)
        }
    }

    /// The pids in a cgroup and every cgroup below it; empty if it does not exist.
    public static func processes(below path: String) -> [Int32] {
        let own = ((try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
        let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return own + children.flatMap { child -> [Int32] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
            return processes(below: path + "/" + child)
        }
    }

    /// A cgroup root of the test's own, below `parent`, with a containment on it; `remove()`
    /// kills and removes whatever is left below it.
    public struct TestRoot {
        public let path: String
        public let root: CgroupRoot
        public let containment: CgroupContainment

        public init() throws {
            guard CgroupSupport.available else { throw SystemErrorDescription(CgroupSupport.unavailableReason) }
            path = CgroupSupport.newTestPath()
            root = try CgroupRoot(path: path, host: CgroupHost.discover())
            containment = CgroupContainment(root: root, logger: Logger(label: "corral-test"))
        }

        public func remove() {
            CgroupSupport.removeTree(path)
        }
    }
}
