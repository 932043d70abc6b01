@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore
@testable import CorralConfiguration
@testable import CorralReports

#if canImport(Glibc)
import Glibc
#endif

/// Where the notify socket is, and what that asks of the host: a data directory others may pass
/// through but not list, with nothing in it open to them; a path that fits a Unix socket; and
/// every directory above it searchable by the agents that run as another user, which
/// `corral check` and `corral doctor` tell of.
@Suite("The notify socket's place")
struct NotifySocketPlaceTests {
    typealias Scratch = ConfigurationCheckTests.Scratch

    @Test func theDataDirectoryLetsOthersThroughAndClosesWhatIsInIt() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path + "/state"
        // What an older corral, or someone by hand, may have left there under a 0700 directory.
        try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
        try scratch.write("", to: path + "/corral.db")
        chmod(path, 0o700)
        chmod(path + "/corral.db", 0o644)
        chmod(path + "/sub", 0o755)
        try scratch.write("", to: scratch.path + "/outside")
        chmod(scratch.path + "/outside", 0o644)
        symlink(scratch.path + "/outside", path + "/link")

        let directory = try DataDirectory(path: path)
        #expect(Self.mode(path) == 0o711)
        #expect(Self.mode(path + "/logs") == 0o700)
        #expect(Self.mode(path + "/corral.db") == 0o600)
        #expect(Self.mode(path + "/sub") == 0o700)
        #expect(Self.mode(path + "/instance-id") == 0o600)
        #expect(Self.mode(scratch.path + "/outside") == 0o644, "a link's target is not corral's to change")

        let socket = try NotifySocket(path: NotifySocket.path(inDataDirectory: path))
        #expect(socket.address == path + "/notify")
        var info = stat()
        #expect(lstat(socket.address, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o666)
        // The next corral binds it again where the last one left it.
        let again = try NotifySocket(path: socket.address)
        #expect(again.address == socket.address)
        withExtendedLifetime((directory, socket)) {}
    }

    @Test func aDataDirectoryTooLongForTheSocketIsRefusedWhereAnAgentUsesIt() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let long = "/" + String(repeating: "d", count: NotifySocket.maximumPathLength - scratch.path.count - 7)
        let fits = String(long.dropLast())
        func check(_ directory: String, _ profile: String) throws -> ConfigurationCheck {
            try scratch.check(#"{"data_dir": "\#(scratch.path + directory)", "agents": {"a": {"command": ["a"]\#(profile)}}}"#)
        }
        #expect((scratch.path + long + "/notify").utf8.count == NotifySocket.maximumPathLength + 1)

        for profile in [#", "ready": "notify""#, #", "prewarm": 1"#] {
            let refused = try check(long, profile)
            #expect(refused.exitStatus == 2, "\(refused.errors)")
            let message = refused.errors.first?.description ?? ""
            #expect(message.contains("data_dir: \(scratch.path + long) is too long for the notify socket in it, which agents.a uses"), "\(message)")
            #expect(message.contains("at most 107"), "\(message)")
            #expect(try check(fits, profile).exitStatus == 0)
        }
        // No agent uses it: corral binds none, and the directory may be as long as it likes.
        #expect(try check(long, "").exitStatus == 0)
    }

    /// An agent running as another user must be able to search every directory above the data
    /// directory; a warning names its profile's `user` and the directory, in `corral check` and
    /// in `corral doctor`.
    @Test func aDirectoryAboveTheSocketThatAnAgentsUserCannotSearchIsAWarning() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let closed = scratch.path + "/closed"
        try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: true)
        chmod(closed, 0o700)
        let json = #"""
            {"data_dir": "\#(closed)/state", "default_agent": "mine", "agents": {
              "mine": {"command": ["a"], "ready": "notify"},
              "exec": {"command": ["a"], "user": "65534"},
              "theirs": {"command": ["a"], "ready": "notify", "user": "65534"},
              "warm": {"command": ["a"], "prewarm": 1, "user": "65534"}}}
            """#

        let check = try scratch.check(json)
        #expect(check.exitStatus == 0)
        let unreachable = check.warnings.filter { $0.message.contains("notify socket") }
        #expect(Self.keys(unreachable) == ["agents.theirs.user", "agents.warm.user"], "\(check.warnings)")
        #expect(unreachable.first?.message.contains("uid 65534 cannot search \(closed) (mode 700, owner uid \(getuid()))") == true, "\(unreachable)")
        #expect(unreachable.first?.message.contains("\(closed)/state/notify") == true)
        #expect(try scratch.check(json, strict: true).exitStatus == 1)

        let configuration = try #require(check.configuration)
        let doctor = HostReport.gather(configuration).checks.first { $0.name == "notify socket" }
        #expect(doctor?.ok == false)
        #expect(doctor?.detail.contains("agents.theirs.user: uid 65534 cannot search \(closed)") == true, "\(doctor?.detail ?? "")")

        // Searchable by others (not readable): both are content.
        chmod(closed, 0o711)
        let open = try scratch.check(json)
        #expect(!open.warnings.contains { $0.message.contains("notify socket") }, "\(open.warnings)")
        #expect(HostReport.gather(try #require(open.configuration)).checks.first { $0.name == "notify socket" }?.ok == true)
    }

    @Test func searchIsDecidedAsTheKernelDecidesIt() {
        var info = stat()
        info.st_uid = 1000
        info.st_gid = 100
        info.st_mode = S_IFDIR | 0o751
        let owner = AgentUser(uid: 1000, gid: 1000, groups: [])
        let member = AgentUser(uid: 2000, gid: 2000, groups: [100])
        let other = AgentUser(uid: 3000, gid: 3000, groups: [])
        #expect(NotifySocketReach.canSearch(info, as: owner))
        #expect(NotifySocketReach.canSearch(info, as: member))
        #expect(NotifySocketReach.canSearch(info, as: other))
        info.st_mode = S_IFDIR | 0o710
        #expect(NotifySocketReach.canSearch(info, as: member))
        #expect(!NotifySocketReach.canSearch(info, as: other))
        // The owner's bits decide for the owner, even where the others' would let it through.
        info.st_mode = S_IFDIR | 0o011
        #expect(!NotifySocketReach.canSearch(info, as: owner))
        #expect(NotifySocketReach.canSearch(info, as: AgentUser(uid: 0, gid: 0, groups: [])))
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    static func keys(_ findings: [ConfigurationFinding]) -> [String] { findings.compactMap(\.key) }
}
