import ArgumentParser
import CorralCore
import CorralServer
import Foundation
import CorralReports
import CorralConfiguration

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what containment this host supports and what corral will use.",
        discussion: """
            Tries what it reports: a probe spawn, a probe cgroup below cgroup_root (and a fork \
            joining it through a descriptor, as a template's forks do), and, for each \
            profile with livekit_worker, a registration with the LiveKit server (offered jobs are \
            declined, and the connection is closed at once). Exits with status 1 when corral could \
            not contain sessions here, or a LiveKit worker could not register.

            Examples:
              corral doctor
              corral doctor --config /etc/corral.json --json
            """
    )

    @OptionGroup var configurationFile: ConfigurationFileOption

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let configuration = try configurationFile.load()
        let report = HostReport.gather(configuration)
        let livekit = await LiveKitProbe.check(configuration)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            // snake_case, as `corral check --json` and the HTTP API write their keys.
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(Output(host: report, livekitWorkers: livekit)), as: UTF8.self))
        } else {
            print(report.text)
            for check in livekit {
                let name = check.agentName.isEmpty ? "automatic dispatch" : "agent_name '\(check.agentName)'"
                print("LiveKit worker of profile \(check.profile) (\(name)) at \(check.url): " + (check.registered ? "OK, " : "FAILED, ") + check.detail)
            }
        }
        if !report.canContain || livekit.contains(where: { !$0.registered }) { throw ExitCode(1) }
    }
}

/// The host report, with the LiveKit workers' checks beside its keys when there are any.
private struct Output: Encodable {
    let host: HostReport
    let livekitWorkers: [LiveKitProbe.Result]

    private enum Keys: String, CodingKey { case livekitWorkers }

    func encode(to encoder: any Encoder) throws {
        try host.encode(to: encoder)
        guard !livekitWorkers.isEmpty else { return }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(livekitWorkers, forKey: .livekitWorkers)
    }
}
