@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
@testable import CorralCore
@testable import CorralReports
@testable import CorralConfiguration
#if canImport(Glibc)
import Glibc
#endif

/// `corral check` on what depends on the host: the data directory, users, cgroups, pid and user
/// namespaces.
extension ConfigurationCheckTests {
    @Test func aDataDirectoryThatIsNotADirectoryOrIsInUse() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        try scratch.write("", to: scratch.path + "/file")
        let notDirectory = try scratch.check(#"{"data_dir": "file", "agents": {"a": {"command": ["a"]}}}"#)
        #expect(notDirectory.warnings == [ConfigurationFinding(key: "data_dir", message: "\(scratch.path)/file is not a directory")])

        // Another corral holds it.
        let held = try DataDirectory(path: scratch.path + "/state")
        let inUse = try scratch.check(#"{"data_dir": "state", "agents": {"a": {"command": ["a"]}}}"#)
        #expect(Self.keys(inUse.warnings) == ["data_dir"])
        #expect(inUse.warnings.first?.message.contains("another corral (pid \(getpid())) is running with the data directory") == true, "\(inUse.warnings)")
        withExtendedLifetime(held) {}
    }

    @Test func aUserThisHostLacksIsAWarning() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let check = try scratch.check(#"{"agents": {"a": {"command": ["a"], "user": "corral-no-such-user"}}}"#)
        #expect(check.exitStatus == 0)
        #expect(Set(Self.keys(check.warnings)) == ["agents.a.user"], "\(check.warnings)")
        #expect(check.warnings.contains(ConfigurationFinding(key: "agents.a.user", message: "no user 'corral-no-such-user'")))
        #expect(try scratch.check(#"{"agents": {"a": {"command": ["a"], "user": "corral-no-such-user"}}}"#, strict: true).exitStatus == 1)
    }

    // MARK: - Containment, by reading only

    /// A forced cgroup mode where the cgroup root cannot be had: serve would not start. The
    /// root here is outside any cgroup hierarchy, whatever the host.
    @Test func aForcedCgroupModeThisHostCannotProvide() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        for mode in ["cgroup", "cgroup-attach"] {
            let json = #"{"containment": "\#(mode)", "cgroup_root": "/corral-not-a-cgroup/corral", "agents": {"a": {"command": ["a"]}}}"#
            let check = try scratch.check(json)
            #expect(check.exitStatus == 0)
            #expect(Self.keys(check.warnings) == ["containment"], "\(check.warnings)")
            #expect(check.warnings.first?.message.contains("\(mode) is not available on this host") == true)
            #expect(check.warnings.first?.message.contains("corral serve would not start") == true)
            #expect(check.plan?.containment.mode == "none")
            #expect(try scratch.check(json, strict: true).exitStatus == 1)
        }
        // With auto, sessions fall back to pid namespaces where this host makes them, else to
        // process groups; the root given is still worth a word.
        let auto = try scratch.check(#"{"cgroup_root": "/corral-not-a-cgroup/corral", "agents": {"a": {"command": ["a"], "cpu_limit": 0.5}}}"#)
        let fallback = (try? PidNamespaceSupport.probe(.auto)) == nil ? "process-group" : "pid-namespace"
        #expect(auto.plan?.containment.mode == fallback)
        #expect(Self.keys(auto.warnings) == ["cgroup_root", "agents.a.cpu_limit"], "\(auto.warnings)")
        #expect(auto.plan?.containment.limits["cpu"] == "not held")
        #expect(!FileManager.default.fileExists(atPath: "/corral-not-a-cgroup"))
    }

    /// Pid namespaces: what they give and do not, how ids map, and `detach` in a container.
    @Test func pidNamespacesAreDescribedAndDetachInAContainerIsWarnedOf() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let json = #"{"containment": "pid-namespace", "user_namespace": "always", "shutdown": "detach", "agents": {"a": {"command": ["a"], "user": "65534"}}}"#
        let outside = try scratch.check(json)
        let inContainer = try scratch.check(json, environment: ["container": "podman"])
        guard (try? PidNamespaceSupport.probe(.always)) != nil else {
            #expect(outside.plan?.containment.mode == "none")
            #expect(Self.keys(outside.warnings).contains("containment"))
            return
        }
        let detail = outside.plan?.containment.detail ?? ""
        #expect(outside.plan?.containment.mode == "pid-namespace")
        #expect(detail.contains("inside a user namespace") && detail.contains("map to themselves"), "\(detail)")
        #expect(detail.contains("no limit is enforced without a cgroup"), "\(detail)")
        #expect(outside.plan?.containment.limits["cpu"] == "not held")
        if ContainerEnvironment.detect(environment: scratch.environment) == nil { #expect(outside.warnings.isEmpty, "\(outside.warnings)") }
        #expect(Self.keys(inContainer.warnings) == ["shutdown"], "\(inContainer.warnings)")
        #expect(inContainer.warnings.first?.message.contains("`detach` cannot keep sessions across a restart") == true)
    }

    /// Ids map to themselves; without CAP_SETUID/CAP_SETGID only corral's own, and no agent can
    /// switch users.
    @Test func userNamespaceMapsSayWhichUsersCanRun() {
        let full = UserNamespaceMap.forCorral(capabilities: Capabilities(effective: 1 << 6 | 1 << 7))
        #expect(full.uidMapText == "0 0 4294967295\n" || getuid() != 0, "\(full.uidMapText)")
        #expect(!full.deniesSetgroups)
        #expect(full.problem(running: AgentUser(uid: 65534, gid: 65534, groups: [4])) == nil)
        let own = UserNamespaceMap.forCorral(capabilities: Capabilities(effective: 0))
        #expect(own.uidMapText == "\(geteuid()) \(geteuid()) 1\n")
        #expect(own.gidMapText == "\(getegid()) \(getegid()) 1\n")
        #expect(own.deniesSetgroups)
        #expect(own.problem(running: AgentUser(uid: geteuid() &+ 1, gid: getegid(), groups: []))?.contains("is not mapped") == true)
        #expect(own.problem(running: AgentUser(uid: geteuid(), gid: getegid(), groups: []))?.contains("leave `user` out") == true)
    }

    @Test func processGroupsAreNotProbed() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let check = try scratch.check(#"{"containment": "process-group", "cgroup_root": "/corral-not-a-cgroup/corral", "agents": {"a": {"command": ["a"]}}}"#)
        #expect(check.warnings.isEmpty, "\(check.warnings)")
        #expect(check.plan?.containment.mode == "process-group")
        #expect(check.plan?.containment.cgroupRoot == nil)
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aUsableCgroupRootIsPlannedNotMade() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let root = CgroupSupport.newTestPath()
        let check = try scratch.check(#"{"containment": "cgroup", "cgroup_root": "\#(root)", "agents": {"a": {"command": ["a"]}}}"#, strict: true)
        #expect(check.exitStatus == 0, "\(check.text)")
        #expect(check.plan?.containment.mode == "cgroup")
        #expect(check.plan?.containment.cgroupRoot == root)
        #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty, "the check made the cgroup root")
    }

    /// A root another corral holds (its lock taken here) is said to be, with the holder.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aCgroupRootInUseIsReported() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let path = CgroupSupport.newTestPath()
        defer { CgroupSupport.removeTree(path) }
        let held = try CgroupRoot(path: path, host: CgroupHost.discover())
        let check = try scratch.check(#"{"containment": "cgroup", "cgroup_root": "\#(path)", "agents": {"a": {"command": ["a"]}}}"#)
        #expect(Self.keys(check.warnings) == ["containment"])
        #expect(check.warnings.first?.message.contains("another corral (pid \(getpid())) is using the cgroup \(path)") == true, "\(check.warnings)")
        withExtendedLifetime(held) {}
    }

    // MARK: - Output

}
