import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Logging
import Testing
import CorralConfiguration
import CorralReports

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
        #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty, "the probe left its cgroup root")
    }

    /// Run while another corral holds the cgroup root, the report says what a corral started
    /// now would get (pid namespaces where this host makes them, else process groups, or nothing
    /// with cgroups forced), why, and what that mode catches; and, apart from it, the cgroup
    /// containment of the corral that holds the root.
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
        let running = try #require(report.heldCgroupRoot, "\(report.text)")
        #expect(running.pid == getpid() && running.path == rootPath)
        #expect(running.escapes.first { $0.name == "child that calls setsid()" }?.how == "it stays in the session's cgroup")
        #expect(report.text.contains("containment of the running corral: cgroup (a cgroup per session below \(rootPath), held by the running corral, pid \(getpid())"), "\(report.text)")
        #expect(report.text.contains("containment a second corral started now would get: \(namespaces ? "pid-namespace" : "process-group")"), "\(report.text)")
        // What a corral started now would in fact get.
        let selected = try ContainmentSelector.select(configuration, logger: Logger(label: "corral-test") { _ in SwiftLogNoOpLogHandler() })
        #expect(selected.kind == (namespaces ? .pidNamespace : .processGroup))

        configuration.containment = .cgroup
        let forced = HostReport.gather(configuration)
        #expect(forced.mode == "none", "\(forced.text)")
        #expect(forced.modeDetail.contains("another corral (pid \(getpid()))"), "\(forced.modeDetail)")
        #expect(forced.canContain, "the running corral contains its sessions; only a second one would not start")
        #expect(forced.heldCgroupRoot?.pid == getpid())
        #expect(FileManager.default.fileExists(atPath: rootPath), "the report removed a root another corral holds")
        held.removeIfUnused()
    }

    /// A fork joining a probe cgroup through a descriptor is tried; a template profile is said to
    /// be forked with cgroups, cold with process groups.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func templateProfilesAreToldWhetherTheirSessionsAreForked() throws {
        var configuration = CorralConfiguration()
        let root = CgroupSupport.newTestPath()
        configuration.cgroupRoot = root
        configuration.agents["voice"] = AgentProfile(command: ["/bin/true"])
        configuration.agents["voice"]?.template = TemplateSettings()
        let report = HostReport.gather(configuration)
        #expect(report.checks.first { $0.name == "fork joins a cgroup" }?.ok == true, "\(report.text)")
        #expect(report.checks.first { $0.name == "template of voice" }?.ok == true, "\(report.text)")
        #expect(report.checks.first { $0.name == "template of demo" } == nil)
        #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty, "the probe left its cgroup root")
        configuration.containment = .processGroup
        let cold = HostReport.gather(configuration).checks.first { $0.name == "template of voice" }
        #expect(cold?.ok == false && cold?.detail.contains("would start cold") == true, "\(cold.map(\.detail) ?? "none")")
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
        #expect(report.heldCgroupRoot == nil)
    }
}
