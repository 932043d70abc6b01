import CCorralShims
@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// Which cgroup is delegated to corral, read as systemd marks it, from wherever corral stands in
/// it: the unit's cgroup itself (at start), its `supervisor` leaf (after the move), its
/// `.control` leaf (`ExecStopPost=`).
@Suite("Finding the delegated cgroup", .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct CgroupDelegationTests {
    @Test func foundFromTheCgroupAndFromItsLeaves() throws {
        let path = CgroupSupport.newTestPath()
        try #require(mkdir(path, 0o755) == 0)
        defer { CgroupSupport.removeTree(path) }
        for leaf in ["supervisor", "other"] { try #require(mkdir(path + "/" + leaf, 0o755) == 0) }
        try #require(mkdir(path + "/other/deeper", 0o755) == 0)
        let mount = try #require(CgroupHost.discover().v2Mount)
        func found(from directory: String) -> String? {
            CgroupDelegation.find(host: CgroupHost(v2Mount: mount, v2OwnPath: String(directory.dropFirst(mount.count)), v1: [:]))?.directory
        }

        #expect(found(from: path) == nil, "not marked yet")
        #expect(found(from: path + "/supervisor") == nil)
        try #require(setxattr(path, "user.delegate", "1", 1, 0) == 0)
        #expect(found(from: path) == path)
        #expect(found(from: path + "/supervisor") == path)
        #expect(found(from: path + "/other") == path)
        // Only the cgroup itself or a child of it: deeper is not corral's place.
        #expect(found(from: path + "/other/deeper") == nil)
        #expect(CgroupDelegation(directory: path).defaultRoot == path + "/corral")
        #expect(CgroupRoot.defaultPath(host: CgroupHost(v2Mount: mount, v2OwnPath: String((path + "/supervisor").dropFirst(mount.count)), v1: [:])) == path + "/corral")
        rmdir(path + "/other/deeper")
    }
}
