import ArgumentParser
import CorralCore
import Foundation

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what containment this host supports and what corral will use.",
        discussion: """
            Tries what it reports: a probe spawn, a probe cgroup below cgroup_root. Exits with \
            status 1 when corral could not contain sessions here.

            Examples:
              corral doctor
              corral doctor --config /etc/corral.json --json
            """
    )

    @Option(name: .long, help: ArgumentHelp("A JSON configuration file (default: $CORRAL_CONFIG).", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: CorralConfiguration
        do {
            configuration = try ConfigurationLoader.load(file: config ?? environment["CORRAL_CONFIG"], environment: environment)
        } catch {
            FileHandle.standardError.write(Data("corral: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let report = HostReport.gather(configuration)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if !report.canContain { throw ExitCode(1) }
    }
}
