import CorralPlatform
import CorralStore
import Foundation
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// A session's record names a cgroup this corral does not act on (it runs without cgroups now):
/// what that cgroup holds is read, as the session's escapees, only where the kernel places the
/// session's leader. The recorded path is data, and could name any directory.
@Suite("A recorded cgroup corral does not act on")
struct ForeignCgroupReadTests {
    @Test func aDirectoryTheLeaderIsNotInIsNotRead() throws {
        let top = NSTemporaryDirectory() + "corral-foreign-" + UUID().uuidString
        let directory = top + "/corral/s-foreign"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: top) }
        // Shaped like a session cgroup, naming a process that is no session's.
        try "1\n".write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
        let record = SessionRecord(
            id: SessionID("foreign")!, agent: "a", status: .running, pid: getpid(), pgid: getpid(), containment: .cgroup,
            cgroupPath: directory, createdAt: Date(), expiresAt: Date(), logPath: "/dev/null"
        )
        let held = Supervisor.heldWithoutItsCgroup(record, leader: getpid(), containment: ProcessGroupContainment())
        #expect(held.containment == .processGroup)
        #expect(held.sightings.isEmpty, "\(held.sightings)")
    }
}
