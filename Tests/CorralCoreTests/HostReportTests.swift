import CorralCore
import CorralTestSupport
import Foundation
import Testing

@Suite("corral doctor")
struct HostReportTests {
    @Test func processGroupModeIsHonestAboutWhatItMisses() {
        var configuration = CorralConfiguration()
        configuration.containment = .processGroup
        let report = HostReport.gather(configuration)
        #expect(report.canContain)
        #expect(report.mode == "process-group")
        #expect(report.checks.first { $0.name == "pidfd_open" }?.ok == true)
        #expect(report.escapes.first { $0.name == "fork bomb" }?.contained == false)
        #expect(report.escapes.first { $0.name == "child that calls setsid()" }?.contained == true)
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func cgroupModeIsFoundAndProbesLeaveNothing() throws {
        var configuration = CorralConfiguration()
        let root = CgroupSupport.parent! + "/corral-test-" + UUID().uuidString
        configuration.cgroupRoot = root
        let report = HostReport.gather(configuration)
        #expect(report.mode == "cgroup")
        #expect(report.canContain)
        #expect(report.checks.first { $0.name == "start inside the cgroup" }?.ok == true)
        #expect(report.escapes.first { $0.name == "double-forked daemon" }?.contained == true)
        #expect(!FileManager.default.fileExists(atPath: root), "the probe left its cgroup root")
    }

    @Test func forcedCgroupWithoutCgroupsCannotContain() {
        var configuration = CorralConfiguration()
        configuration.containment = .cgroup
        configuration.cgroupRoot = "/proc/not-a-cgroup/corral"
        let report = HostReport.gather(configuration)
        #expect(report.mode == "none")
        #expect(!report.canContain)
    }
}
