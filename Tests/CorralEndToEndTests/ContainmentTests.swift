import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

/// The containment modes this host can test: cgroup modes only where a cgroup v2 hierarchy is
/// writable (the reason is printed otherwise).
let testedModes: [CorralConfiguration.ContainmentMode] = {
    guard CgroupSupport.available else {
        print("note: \(CgroupSupport.unavailableReason)")
        return [.processGroup]
    }
    return [.cgroup, .cgroupAttach, .processGroup]
}()

@Suite("Containment: nothing of a session outlives it", .serialized)
struct ContainmentTests {
    /// Minimum number of processes each escaping agent has once it is set up.
    static let settled: [String: Int] = ["setsid-child": 3, "double-fork": 2, "fork-100": 101, "ignore-term-everywhere": 3]

    static func expectNothingLeft(_ session: TestCorral.Session, _ client: TestCorral.Client, sourceLocation: SourceLocation = #_sourceLocation) async {
        #expect(await ProcessProbe.sessionProcesses(session.id).isEmpty, "processes of \(session.id) left", sourceLocation: sourceLocation)
        #expect(!ProcessProbe.groupExists(session.pgid), sourceLocation: sourceLocation)
        if let cgroup = client.cgroupPath(session.id) {
            #expect(!FileManager.default.fileExists(atPath: cgroup), "\(cgroup) left", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: testedModes, TestAgents.escapers.keys.sorted())
    func deleteEndsEveryProcess(mode: CorralConfiguration.ContainmentMode, agent: String) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)"}"#)
            #expect(session.containment == (mode == .processGroup ? "process-group" : "cgroup"))
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count >= Self.settled[agent]! })
            let end = try await client.request(.delete, "/api/sessions/\(session.id)")
            #expect(end.status == .ok)
            await Self.expectNothingLeft(session, client)
        }
    }

    @Test(arguments: testedModes, TestAgents.escapers.keys.sorted())
    func timeoutEndsEveryProcess(mode: CorralConfiguration.ContainmentMode, agent: String) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)", "timeout_seconds": 1}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            await Self.expectNothingLeft(session, client)
        }
    }

    @Test(arguments: testedModes, TestAgents.escapers.keys.sorted())
    func agentExitEndsEveryProcess(mode: CorralConfiguration.ContainmentMode, agent: String) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)-exits"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            await Self.expectNothingLeft(session, client)
        }
    }

    /// An agent running as root makes a cgroup inside its session's and moves a child that
    /// ignores SIGTERM into it: the inspection lists it, the end reaches it, and both cgroups go.
    @Test(arguments: testedModes.filter { $0 != .processGroup })
    func cgroupsMadeInsideASessionEndWithIt(mode: CorralConfiguration.ContainmentMode) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "nested-cgroup"}"#)
            let cgroup = try #require(client.cgroupPath(session.id))
            #expect(await ProcessProbe.waitUntil { FileManager.default.fileExists(atPath: cgroup + "/inner/cgroup.procs") })
            #expect(try await ProcessProbe.waitUntil {
                let inner = (try? String(contentsOfFile: cgroup + "/inner/cgroup.procs", encoding: .utf8)) ?? ""
                guard let child = inner.split(separator: "\n").first.flatMap({ Int32($0) }) else { return false }
                let listed = try await client.request(.get, "/api/debug/session/\(session.id)/processes").text
                return listed.contains("\"pid\":\(child)") || listed.contains("\"pid\": \(child)")
            }, "the process in the inner cgroup is listed")
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await Self.expectNothingLeft(session, client)
        }
    }

    @Test(arguments: testedModes)
    func inspectionListsProcessesThatLeftTheGroup(mode: CorralConfiguration.ContainmentMode) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "setsid-child"}"#)
            // Three processes, one of which has left the group (setsid(1) forks before it calls
            // setsid()).
            #expect(await ProcessProbe.waitUntil {
                let pids = await ProcessProbe.sessionProcesses(session.id)
                return pids.count == 3 && pids.contains { ProcFS.stat($0).map { $0.pgid != session.pgid } == true }
            })
            let report = try await client.request(.get, "/api/debug/session/\(session.id)/processes")
            #expect(report.status == .ok)
            let json = report.json
            #expect(json["is_process_alive"] as? Bool == true)
            #expect(json["is_group_alive"] as? Bool == true)
            #expect(json["is_group_leader"] as? Bool == true)
            #expect((json["session_data"] as? [String: Any])?["pid"] as? Int == Int(session.pid))
            let processes = try #require(json["child_processes"] as? [[String: Any]])
            #expect(processes.first?["pid"] as? Int == Int(session.pid))
            let pids = Set(processes.compactMap { $0["pid"] as? Int }.map(Int32.init))
            #expect(pids == Set(await ProcessProbe.sessionProcesses(session.id)))
            let escaped = processes.filter { $0["pgid"] as? Int != Int(session.pgid) }
            #expect(escaped.count == 1, "the setsid child is listed: \(processes)")
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await Self.expectNothingLeft(session, client)
        }
    }

    @Test(arguments: testedModes)
    func memoryHogEndsWithMemoryLimit(mode: CorralConfiguration.ContainmentMode) async throws {
        try await TestCorral(containment: mode, configure: { $0.watchIntervalSeconds = 0.2 }).run { client in
            let session = try await client.start(#"{"agent": "memory-hog"}"#)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) { try await client.isGone(session.id) })
            #expect(try await client.endedCount(agent: "memory-hog", reason: "memory_limit") == 1)
            await Self.expectNothingLeft(session, client)
        }
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func forkBombIsCappedAndEndsWithPidsLimit() async throws {
        try await TestCorral(containment: .cgroup, configure: { $0.watchIntervalSeconds = 0.2 }).run { client in
            let pidsEnforced = (client.services.containment as? CgroupContainment)?.root.enforcement(of: "pids") != nil
            try #require(pidsEnforced, "no pids controller (v2 or v1) on this host")
            let session = try await client.start(#"{"agent": "fork-bomb"}"#)
            var most = 0
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                most = max(most, await ProcessProbe.sessionProcesses(session.id).count)
                return try await client.isGone(session.id)
            })
            #expect(most <= 50, "the bomb was not capped at pids_limit: \(most) processes")
            #expect(try await client.endedCount(agent: "fork-bomb", reason: "pids_limit") == 1)
            await Self.expectNothingLeft(session, client)
        }
    }
}

@Suite("Choosing the containment")
struct ContainmentSelectionTests {
    @Test func forcedCgroupWithoutAUsableRootStopsStartUp() throws {
        var configuration = TestCorral(containment: .cgroup).configuration
        configuration.cgroupRoot = "/proc/not-a-cgroup/corral"
        #expect(throws: CorralError.self) {
            _ = try ContainmentSelector.select(configuration, logger: .init(label: "test"))
        }
    }

    /// Without cgroups, `auto` gives a pid namespace per session where one can be made, else
    /// process groups.
    @Test func autoFallsBackToPidNamespacesOrProcessGroups() async throws {
        // A name of its own: the check for what is left after the run looks for v1 cgroups of
        // this name, and the test beside it makes `corral`'s.
        let root = "/proc/not-a-cgroup/corral-\(UUID().uuidString)"
        try await TestCorral(containment: .auto, configure: { $0.cgroupRoot = root }).run { client in
            let session = try await client.start(#"{"agent": "setsid-child"}"#)
            #expect(session.containment == (pidNamespaceCases.isEmpty ? "process-group" : "pid-namespace"))
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            #expect(await ProcessProbe.sessionProcesses(session.id).isEmpty)
        }
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func autoUsesCgroupsWhereTheHostHasThem() async throws {
        try await TestCorral(containment: .auto).run { client in
            let session = try await client.start(#"{"agent": "sleeper"}"#)
            #expect(session.containment == "cgroup")
            let cgroup = try #require(client.cgroupPath(session.id))
            #expect(cgroupProcesses(cgroup).contains(session.pid))
        }
    }
}

/// The pids in a cgroup, read the plain way.
func cgroupProcesses(_ path: String) -> [Int32] {
    ((try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
}
