import CorralTestSupport
import Foundation
import Testing

/// `scripts/install`, staged below a directory of the test's own (`--root`, `--no-systemd`):
/// what it puts where, what it keeps on an upgrade, and that the installed configuration and
/// example agent run, with the host's paths swapped for the test's.
@Suite("scripts/install", .serialized)
struct InstallTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func installsKeepsWhatIsThereOnUpgradeAndRuns() async throws {
        let stage = NSTemporaryDirectory() + "corral-install-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: stage, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: stage) }
        let script = Self.repository.appendingPathComponent("scripts/install").path
        let arguments = ["--root", stage, "--no-systemd", "--binary", CorralProcess.executable]

        let first = try await CommandRunner.run(script, arguments, timeout: .seconds(120))
        #expect(first.status == 0, "\(first.output)\(first.errors)")
        for file in [
            "usr/local/bin/corral", "etc/systemd/system/corral.service", "etc/corral/corral.json", "etc/corral/api-token",
            "usr/local/lib/corral/agents/voice.py", "usr/local/lib/corral/agents/corral_agent.py", "usr/local/share/doc/corral/README.md",
            "usr/local/share/doc/corral/docs/operations.md", "usr/local/share/doc/corral/docs/dashboard.png",
        ] {
            #expect(FileManager.default.fileExists(atPath: stage + "/" + file), "\(file) missing")
        }
        let tokenFile = stage + "/etc/corral/api-token"
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8)
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit), "\(token)")
        let mode = (try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int) ?? 0
        #expect(mode & 0o077 == 0, "the token is readable by others: \(String(mode, radix: 8))")

        // An upgrade replaces the binary and the unit, and keeps the operator's configuration and token.
        let edited = try String(contentsOfFile: stage + "/etc/corral/corral.json", encoding: .utf8).replacingOccurrences(of: "8080", with: "8081")
        try edited.write(toFile: stage + "/etc/corral/corral.json", atomically: true, encoding: .utf8)
        let second = try await CommandRunner.run(script, arguments, timeout: .seconds(120))
        #expect(second.status == 0, "\(second.output)\(second.errors)")
        #expect(try String(contentsOfFile: tokenFile, encoding: .utf8) == token)
        #expect(try String(contentsOfFile: stage + "/etc/corral/corral.json", encoding: .utf8) == edited)

        // The installed configuration runs the installed agent (prewarmed, notify-ready).
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stage + "/etc/corral/corral.json"))) as? [String: Any])
        config["data_dir"] = stage + "/var/lib/corral"
        config["audit_log"] = stage + "/var/log/corral/audit.log"
        config["containment"] = "auto"
        // A cgroup root of the test's own: with `shutdown: detach`, as installed, corral leaves its
        // prewarmed agent's cgroup behind when it stops (for the next corral to clean up), which
        // must not be below the host's default root.
        let cgroupRoot = CgroupSupport.available ? CgroupSupport.newTestPath() : nil
        if let cgroupRoot { config["cgroup_root"] = cgroupRoot }
        defer { if let cgroupRoot { CgroupSupport.removeTree(cgroupRoot) } }
        config["api_token_file"] = tokenFile
        var agents = try #require(config["agents"] as? [String: Any])
        var voice = try #require(agents["voice"] as? [String: Any])
        let command = try #require(voice["command"] as? [String])
        voice["command"] = command.map { $0.hasPrefix("/usr/local/") ? stage + $0 : $0 }
        voice["user"] = nil
        voice["env"] = ["LOAD_SECONDS": "0.2"]
        agents["voice"] = voice
        config["agents"] = agents
        // What StateDirectory= and LogsDirectory= make.
        for directory in ["/var/lib", "/var/log/corral"] {
            try FileManager.default.createDirectory(atPath: stage + directory, withIntermediateDirectories: true)
        }
        let corral = try await CorralProcess.start(config: config, directory: stage)
        do {
            let auth = ["Authorization": "Bearer \(token)"]
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"session_id": "installed"}"#, headers: auth, timeout: .seconds(60))
            #expect(started.status == 201, "\(started.text)\n\(corral.log)")
            let running = await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                (try? await corral.request(.GET, "/api/sessions/installed", headers: auth))?.json["status"] as? String == "running"
            }
            #expect(running, "\(corral.log)")
            let ended = try await corral.request(.DELETE, "/api/sessions/installed", headers: auth, timeout: .seconds(60))
            #expect(ended.status == 200, "\(ended.text)")
        } catch {
            await corral.kill()
            throw error
        }
        #expect(await corral.terminate() == 0, "\(corral.log)")
        // Detached, the idle agent sees its assignment channel close and exits.
        let idleLeft = await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            cgroupRoot.map { root in CgroupSupport.processes(below: root).isEmpty } ?? true
        }
        #expect(idleLeft, "the detached idle agent did not exit: \(cgroupRoot.map(CgroupSupport.processes(below:)) ?? [])")
    }

    /// Whoever could make a name in the staged root (the token's was a dangling link, and the
    /// new admin token went where it pointed) has no file written through a link: at a file the
    /// install writes, or at a directory on the way to one. The install stops, naming it.
    @Test(arguments: [
        "etc/corral/api-token", "etc/corral/corral.json", "etc/systemd/system/corral.service", "usr/local/bin/corral",
        "usr/local/lib/corral/agents/voice.py", "etc/corral",
    ])
    func aSymbolicLinkInTheStagedRootIsRefused(_ file: String) async throws {
        let stage = NSTemporaryDirectory() + "corral-install-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: stage + "/root", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: stage) }
        let link = stage + "/root/" + file
        let target = stage + "/elsewhere"
        try FileManager.default.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // A file's link dangles; the directory's points at one the attacker reads.
        if file == "etc/corral" { try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true) }
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)

        let script = Self.repository.appendingPathComponent("scripts/install").path
        let result = try await CommandRunner.run(script, ["--root", stage + "/root", "--no-systemd", "--binary", CorralProcess.executable], timeout: .seconds(120))
        #expect(result.status == 2, "\(result.output)\(result.errors)")
        #expect(result.errors.contains("\(link) is a symbolic link; refusing to write through it"), "\(result.errors)")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? (FileManager.default.fileExists(atPath: target) ? ["(the target)"] : [])
        #expect(written.isEmpty, "written through the link: \(written)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target, "the link was replaced")
    }
}
