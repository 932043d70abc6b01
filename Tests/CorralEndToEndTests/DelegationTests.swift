import CCorralShims
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// corral in a cgroup delegated to it, as systemd runs the unit `deploy/systemd/corral.service`
/// (`Delegate=yes`): the delegated cgroup is one of the test's own, marked as systemd marks it,
/// and corral is started in it as systemd starts a unit's main process.
@Suite("A delegated cgroup", .serialized, .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct DelegationTests {
    @Test func corralMovesIntoALeafAndSessionsSitBesideIt() async throws {
        let unit = try DelegatedUnit()
        defer { unit.remove() }
        try await CrashTestBed.run(containment: .processGroup, extra: ["containment": "cgroup", "shutdown": "detach"]) { bed in
            var agents = bed.config["agents"] as! [String: Any]
            agents["cooperative"] = (agents["cooperative"] as! [String: Any]).merging(["pids_limit": 64]) { $1 }
            bed.config["agents"] = agents
            // systemd sets INVOCATION_ID for every process of a unit.
            let corral = try await bed.startCorral(environment: ["INVOCATION_ID": "0123456789abcdef"], cgroup: unit.path)
            #expect(unit.cgroup(of: corral.pid) == unit.path + "/supervisor", "corral stayed in \(unit.cgroup(of: corral.pid) ?? "?")")
            // corral doctor, run from elsewhere, sees it so.
            let doctor = try await CommandRunner.run(CorralProcess.executable, ["doctor", "--json", "--config", corral.configFile])
            let report = try JSONSerialization.jsonObject(with: Data(doctor.output.utf8)) as? [String: Any]
            let seen = (report?["running_corrals"] as? [[String: Any]])?.first { $0["pid"] as? Int == Int(corral.pid) }
            #expect(seen?["delegated_cgroup"] as? String == unit.path, "\(doctor.output)")
            #expect(seen?["systemd_unit"] as? String == String(unit.path.split(separator: "/").last!), "\(doctor.output)")
            // What the delegated cgroup offers of the limit controllers is handed down to the
            // sessions (nothing may be offered on a host whose controllers are all in v1).
            let offered = Set(unit.read("cgroup.controllers")).intersection(["memory", "pids", "cpu"])
            #expect(offered.isSubset(of: Set(unit.read("cgroup.subtree_control"))))

            let session = try await corral.start(#"{"session_id": "beside", "agent": "cooperative"}"#)
            #expect(unit.cgroup(of: session.pid) == unit.path + "/corral/s-beside", "\(unit.cgroup(of: session.pid) ?? "?")")

            // An upgrade: corral stops and leaves the session running, the unit's ExecStopPost=
            // hands the controllers back, systemd starts the new corral in the unit's cgroup.
            #expect(await corral.terminate() == 0)
            bed.corral = nil
            #expect(ProcessProbe.isAlive(session.pid))
            // It reads no configuration: after a stop, the one named may be broken or unreadable.
            let release = try await CommandRunner.run(
                "/bin/sh", Array(CorralProcess.command(["release-cgroups"], inCgroup: unit.control).dropFirst()),
                environment: ["CORRAL_CONFIG": "/nonexistent/corral.json", "CORRAL_API_TOKEN_FILE": "/nonexistent/api-token"]
            )
            #expect(release.status == 0, "\(release.output)\(release.errors)")
            #expect(unit.read("cgroup.subtree_control").isEmpty)
            #expect(unit.read("corral/cgroup.subtree_control").isEmpty)

            let next = try await bed.startCorral(cgroup: unit.path)
            #expect(unit.cgroup(of: next.pid) == unit.path + "/supervisor")
            #expect(try await next.sessions().map(\.pid) == [session.pid])
            #expect(offered.isSubset(of: Set(unit.read("cgroup.subtree_control"))))
            // The limits a release took away are written again on adoption.
            if offered.contains("pids") {
                #expect(unit.read("corral/s-beside/pids.max") == ["64"])
            }
            let ended = try await next.request(.DELETE, "/api/sessions/beside")
            #expect(ended.status == 200, "\(ended.text)")
        }
    }

    @Test func releaseOutsideADelegatedCgroupDoesNothing() async throws {
        let result = try await CommandRunner.run(CorralProcess.executable, ["release-cgroups"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("not in a delegated cgroup"), "\(result.output)")
    }
}

/// A cgroup of the test's own, marked delegated the way systemd marks a unit's with `Delegate=yes`.
private struct DelegatedUnit {
    let path = CgroupSupport.newTestPath()
    /// Where systemd puts a delegated unit's control processes (`ExecStopPost=`).
    var control: String { path + "/.control" }

    init() throws {
        guard mkdir(path, 0o755) == 0, mkdir(path + "/.control", 0o755) == 0 else {
            throw CorralError(.system, "cannot create the test cgroup \(path)", underlying: SystemError("mkdir", errno: errno))
        }
        guard setxattr(path, "trusted.delegate", "1", 1, 0) == 0 else {
            let error = errno
            remove()
            throw CorralError(.system, "cannot mark \(path) delegated", underlying: SystemError("setxattr", errno: error))
        }
    }

    /// The words of a file of the delegated cgroup (`name` relative to it).
    func read(_ name: String) -> [String] {
        ((try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// A process's cgroup v2 directory.
    func cgroup(of pid: Int32) -> String? {
        guard let mount = CgroupHost.discover().v2Mount,
            let lines = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8),
            let line = lines.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        return mount + line.dropFirst(3)
    }

    func remove() {
        rmdir(control)
        CgroupSupport.removeTree(path)
    }
}
