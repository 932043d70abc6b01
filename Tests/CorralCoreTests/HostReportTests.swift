import CorralCore
import CorralTestSupport
import Foundation
import Logging
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
        let root = CgroupSupport.newTestPath()
        configuration.cgroupRoot = root
        let report = HostReport.gather(configuration)
        #expect(report.mode == "cgroup")
        #expect(report.canContain)
        #expect(report.checks.first { $0.name == "start inside the cgroup" }?.ok == true)
        #expect(report.escapes.first { $0.name == "double-forked daemon" }?.contained == true)
        #expect(!FileManager.default.fileExists(atPath: root), "the probe left its cgroup root")
    }

    /// Run while another corral holds the cgroup root, the report says what a corral started
    /// now would get (pid namespaces where this host makes them, else process groups, or nothing
    /// with cgroups forced), why, and what that mode catches: not the cgroup mode of the corral
    /// that holds the root.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aRootHeldByAnotherCorralIsReportedAsWhatACorralStartedNowGets() throws {
        let rootPath = CgroupSupport.newTestPath()
        defer { CgroupSupport.removeTree(rootPath) }
        // The running corral's root, locked as long as it lives (a lock is per open file, so
        // this process is "another corral" to the report's own attempt).
        let held = try CgroupRoot(path: rootPath, host: CgroupHost.discover())
        var configuration = CorralConfiguration()
        configuration.cgroupRoot = rootPath

        let namespaces = (try? PidNamespaceSupport.probe(.auto)) != nil
        let report = HostReport.gather(configuration)
        #expect(report.mode == (namespaces ? "pid-namespace" : "process-group"), "\(report.text)")
        #expect(report.modeDetail.contains("another corral (pid \(getpid())) is using the cgroup \(rootPath)"), "\(report.modeDetail)")
        #expect(report.checks.first { $0.name == "cgroup root" }?.ok == false)
        #expect(report.checks.first { $0.name == "pid namespace" }?.ok == namespaces)
        let setsidChild = report.escapes.first { $0.name == "child that calls setsid()" }?.how ?? ""
        #expect(setsidChild.contains(namespaces ? "pid namespace" : "CORRAL_SESSION_ID"), "\(setsidChild)")
        #expect(report.escapes.first { $0.name == "fork bomb" }?.contained == false)
        #expect(report.canContain)
        // What a corral started now would in fact get.
        let selected = try ContainmentSelector.select(configuration, logger: Logger(label: "corral-test") { _ in SwiftLogNoOpLogHandler() })
        #expect(selected.kind == (namespaces ? .pidNamespace : .processGroup))

        configuration.containment = .cgroup
        let forced = HostReport.gather(configuration)
        #expect(forced.mode == "none", "\(forced.text)")
        #expect(forced.modeDetail.contains("another corral (pid \(getpid()))"), "\(forced.modeDetail)")
        #expect(!forced.canContain)
        #expect(FileManager.default.fileExists(atPath: rootPath), "the report removed a root another corral holds")
        held.removeIfUnused()
    }

    /// Forced pid namespaces: what they catch (everything that runs away) and what they do not
    /// (limits), and how ids map.
    @Test(arguments: [UserNamespaceMode.never, .always])
    func pidNamespaceModeSaysWhatItGivesAndWhatNot(userNamespace: UserNamespaceMode) {
        var configuration = CorralConfiguration()
        configuration.containment = .pidNamespace
        configuration.userNamespace = userNamespace
        let report = HostReport.gather(configuration)
        let check = report.checks.first { $0.name == "pid namespace" }
        guard (try? PidNamespaceSupport.probe(userNamespace)) != nil else {
            #expect(report.mode == "none" && check?.ok == false, "\(report.text)")
            return
        }
        #expect(report.mode == "pid-namespace", "\(report.text)")
        #expect(report.canContain)
        #expect(check?.ok == true)
        #expect(check?.detail.contains("no limit is enforced") == true, "\(check?.detail ?? "")")
        #expect(check?.detail.contains(userNamespace == .always ? "map to themselves" : "no user namespace") == true, "\(check?.detail ?? "")")
        #expect(report.escapes.first { $0.name == "orphan that calls setsid() and clears its environment" }?.contained == true)
        #expect(report.escapes.first { $0.name == "memory hog" }?.contained == false)
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
