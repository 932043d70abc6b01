import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// `corral doctor` run beside a running `corral serve` with the same configuration: the running
/// corral holds the cgroup root, so what a second corral would get (a pid namespace per session
/// where this host makes them, else process groups) is said apart
/// from what the running one has (a cgroup per session), which is read from the root it holds.
@Suite("corral doctor beside a running corral", .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct DoctorBesideACorralTests {
    @Test func theRunningCorralsContainmentIsItsOwn() async throws {
        try await CrashTestBed.run(containment: .auto, extra: ["default_agent": "sleeper"]) { bed in
            let root = try #require(bed.cgroupRoot)
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"session_id": "held"}"#)
            #expect(session["containment"] as? String == "cgroup")

            // What a second corral gets here: pid namespaces where they can be made (as root they can).
            let second = (try? PidNamespaceSupport.probe(.auto)) != nil ? "pid-namespace" : "process-group"
            let text = try await CommandRunner.run(CorralProcess.executable, ["doctor", "--config", corral.configFile])
            #expect(text.status == 0, "\(text.output)\(text.errors)")
            let runningLine = "containment of the running corral: cgroup (a cgroup per session below \(root), held by the running corral, pid \(corral.pid); 1 session cgroup(s) now;"
            #expect(text.output.contains(runningLine), "\(text.output)")
            #expect(text.output.contains("containment a second corral started now would get: \(second) (cgroups cannot be used: another corral (pid \(corral.pid))"), "\(text.output)")
            // Each containment's escapes, in its own block: the running corral's sessions are in
            // cgroups, a second corral's would be pid namespaces or process groups.
            let blocks = text.output.components(separatedBy: "containment a second corral")
            #expect(blocks.count == 2)
            #expect(blocks[0].contains("contained     child that calls setsid(): it stays in the session's cgroup"), "\(blocks[0])")
            let secondCatches = second == "pid-namespace" ? "it stays in the session's pid namespace" : "found by ancestry"
            #expect(blocks[1].contains("contained     child that calls setsid(): \(secondCatches)"), "\(blocks[1])")
            #expect(!blocks[0].contains("found by ancestry"), "\(blocks[0])")

            let json = try await CommandRunner.run(CorralProcess.executable, ["doctor", "--json", "--config", corral.configFile])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
            let held = try #require(report["held_cgroup_root"] as? [String: Any], "\(json.output)")
            #expect(held["pid"] as? Int == Int(corral.pid) && held["path"] as? String == root && held["sessions"] as? Int == 1)
            #expect(report["mode"] as? String == second)

            #expect(try await corral.request(.DELETE, "/api/sessions/held").status == 200)
        }
    }
}
