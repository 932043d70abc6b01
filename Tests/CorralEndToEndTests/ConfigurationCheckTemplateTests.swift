import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore
@testable import CorralReports

/// `corral check` on a template profile: its settings are planned and shown, a bad one is
/// refused as serve refuses it, and a host where its sessions could not be forked is warned about.
@Suite("corral check: templates")
struct ConfigurationCheckTemplateTests {
    typealias Scratch = ConfigurationCheckTests.Scratch

    @Test func aTemplateProfileIsPlannedWithItsSettings() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("voice-agent")
        let check = try scratch.check(
            #"{"containment": "process-group", "startup_timeout_seconds": 12, "agents": {"voice": {"command": ["voice-agent"], "template": {"memory_limit_mb": 2048, "fork_timeout_seconds": 3}}}}"#
        )
        let voice = try #require(check.plan?.agents.first)
        #expect(voice.template == .init(forked: false, memoryLimitMB: 2048, startupTimeoutSeconds: 12, forkTimeoutSeconds: 3, maxQueuedForks: 64))
        #expect(check.text.contains("template   a template, but sessions start cold here (no cgroups) (memory 2048 MB; READY=1 within 12 s"), "\(check.text)")
        #expect(check.json.contains("\"fork_timeout_seconds\" : 3"), "\(check.json)")
        // Without cgroups its sessions start cold: a warning naming the key (an error with --strict).
        #expect(ConfigurationCheckTests.keys(check.warnings) == ["agents.voice.template"], "\(check.warnings)")
        #expect(check.warnings.first?.message.contains("would start cold here: forking them from a template needs cgroup containment") == true)
        #expect(check.exitStatus == 0)
        #expect(try scratch.check(#"{"containment": "process-group", "agents": {"voice": {"command": ["voice-agent"], "template": true}}}"#, strict: true).exitStatus == 1)
        // A profile without one has none.
        #expect(try scratch.check(#"{"agents": {"voice": {"command": ["voice-agent"]}}}"#).plan?.agents.first?.template == nil)
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func withCgroupsItsSessionsAreForked() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("voice-agent")
        let root = CgroupSupport.newTestPath()
        let check = try scratch.check(
            #"{"containment": "cgroup", "cgroup_root": "\#(root)", "agents": {"voice": {"command": ["voice-agent"], "template": true, "prewarm": 2}}}"#, strict: true
        )
        #expect(check.exitStatus == 0, "\(check.text)")
        #expect(check.plan?.agents.first?.template?.forked == true)
        #expect(check.text.contains("template   sessions forked from a warm template (no memory limit; READY=1 within 30 s; a fork answered within 5 s; at most 64 waiting)"), "\(check.text)")
        // prewarm on a template profile: idle agents forked from it ahead of time.
        #expect(check.text.contains("prewarm    2 idle agents, forked from the template\n"), "\(check.text)")
        #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty)
    }

    @Test func badTemplateSettingsAreRefusedAsServeRefusesThem() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("voice-agent")
        let check = try scratch.check(#"{"agents": {"voice": {"command": ["voice-agent"], "template": {"max_queued_forks": 0}}}}"#)
        #expect(check.exitStatus == 2)
        #expect(check.errors.first.map { "\($0)" }?.contains("agents.voice.template.max_queued_forks: must be at least 1") == true, "\(check.errors)")
    }
}
