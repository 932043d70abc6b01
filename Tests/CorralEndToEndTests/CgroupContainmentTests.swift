@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Logging
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// What `CgroupContainment` decides about the cgroups below its root.
@Suite("Cgroup containment")
struct CgroupContainmentTests {
    /// The orphan sweep runs off the supervisor, against the sessions it knew when it began; a
    /// session started meanwhile has no cgroup in its record yet. The containment knows which
    /// cgroups it made and never takes them for orphans; one it did not make is removed.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aCgroupThisCorralMadeIsNeverAnOrphan() async throws {
        let testRoot = try CgroupSupport.TestRoot()
        defer { testRoot.remove() }
        let (rootPath, root, containment) = (testRoot.path, testRoot.root, testRoot.containment)
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let output = AgentSpawnerTests.Output()
        let launch = AgentLaunch(
            sessionID: SessionID("own-cgroup")!, executable: "/bin/sleep", arguments: ["sleep", "1000"],
            environment: [], outputFD: output.fd, limits: ResourceLimits()
        )
        let tree = try await OwnThread.run { () throws -> any ContainedTree in
            try containment.launch(launch, monitor: monitor) { _ throws(CorralError) in }
        }
        let path = try #require(tree.cgroupPath)
        let orphan = rootPath + "/" + SessionCgroup.prefix + "left-by-an-earlier-corral"
        #expect(mkdir(orphan, 0o755) == 0)

        let removed = await OwnThread.run { containment.removeOrphanedGroups(keeping: []) }
        #expect(removed == [orphan])
        #expect(FileManager.default.fileExists(atPath: path), "the live session's cgroup was removed")
        #expect(!tree.leader.hasExited, "the live session's agent was killed")

        await OwnThread.run {
            tree.killAll()
            tree.leader.killAndReap()
            _ = OwnThread.poll { tree.isEmpty }
            tree.release()
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!root.owns(SessionCgroup.prefix + "own-cgroup"), "a removed cgroup is still known as this corral's")
    }
}
