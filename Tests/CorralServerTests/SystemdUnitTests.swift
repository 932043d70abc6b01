import CorralTestSupport
import Foundation
import Testing

/// `deploy/systemd/corral.service`: systemd's own check of it, with its commands pointed at the
/// built binary, and the settings that corral's promises rest on.
@Suite("The systemd unit")
struct SystemdUnitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let unitFile = repository.appendingPathComponent("deploy/systemd/corral.service").path
    static let analyzer = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: analyzer != nil, "systemd-analyze is not installed (.ci/run installs it)"))
    func systemdVerifiesTheUnit() async throws {
        let directory = NSTemporaryDirectory() + "corral-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unit = try String(contentsOfFile: Self.unitFile, encoding: .utf8)
        #expect(unit.contains("/usr/local/bin/corral "))
        let file = directory + "/corral.service"
        try unit.replacingOccurrences(of: "/usr/local/bin/corral ", with: CorralProcess.executable + " ")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await CommandRunner.run(Self.analyzer!, ["verify", file])
        // systemd-analyze exits 0 on unknown keys and values it cannot parse; it says so, though.
        let complaints = (result.output + result.errors).split(separator: "\n").filter { $0.contains("corral.service") || $0.contains(directory) }
        #expect(result.status == 0 && complaints.isEmpty, "\(result.output)\(result.errors)")
    }

    @Test func theUnitKeepsCorralsPromises() throws {
        let settings = try Self.serviceSettings()
        #expect(settings["Type"] == ["notify"])
        #expect(settings["Delegate"] == ["yes"])
        // Only corral is signalled: detached sessions survive an upgrade, others corral ends.
        #expect(settings["KillMode"] == ["process"])
        #expect(settings["OOMPolicy"] == ["continue"], "a session's OOM kill would stop the unit")
        #expect(settings["TasksMax"] == ["infinity"])
        #expect(settings["Restart"] == ["on-failure"])
        #expect(settings["ExecStopPost"]?.first?.hasSuffix("corral release-cgroups") == true)
        #expect(settings["ProtectControlGroups"] == nil && settings["ProtectKernelTunables"] == nil, "corral writes its cgroups")
        #expect(settings["StateDirectory"] == ["corral"] && settings["LogsDirectory"] == ["corral"])

        // Stopping may take a drain and a grace period: systemd must not kill corral during them.
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repository.appendingPathComponent("deploy/systemd/corral.json"))) as? [String: Any]
        )
        let longest = (config["drain_timeout_seconds"] as? Double ?? 300) + (config["grace_seconds"] as? Double ?? 2)
        let timeout = try #require(settings["TimeoutStopSec"]?.first.flatMap { Double($0.replacingOccurrences(of: "s", with: "")) })
        #expect(timeout > longest, "TimeoutStopSec=\(timeout) is not longer than drain_timeout_seconds + grace_seconds (\(longest))")
        // The paths the unit gives corral are the ones its configuration uses.
        #expect(config["data_dir"] as? String == "/var/lib/corral")
        #expect((config["audit_log"] as? String)?.hasPrefix("/var/log/corral/") == true)
    }

    /// `[Service]` settings, each with every value it is given.
    static func serviceSettings() throws -> [String: [String]] {
        var settings: [String: [String]] = [:]
        var section = ""
        for line in try String(contentsOfFile: unitFile, encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#") || text.isEmpty { continue }
            if text.hasPrefix("[") {
                section = text
                continue
            }
            guard section == "[Service]", let equals = text.firstIndex(of: "=") else { continue }
            settings[String(text[..<equals]), default: []].append(String(text[text.index(after: equals)...]))
        }
        return settings
    }
}
