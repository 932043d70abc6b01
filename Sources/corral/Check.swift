import ArgumentParser
import CorralCore
import CorralServer
import Foundation
import CorralReports

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration and show what corral serve would do with it, starting nothing.",
        discussion: """
            Loads the configuration as corral serve does (the file, with CORRAL_<KEY> environment \
            variables over it) and checks every key and every reference between keys the same way; \
            then prints where corral would listen, its store, data directory and containment, and \
            each agent with the program that would run. Nothing is started or written: no socket, \
            no store, no cgroup, no agent. Secrets are shown only as set or not set.

            What depends on the host rather than on the configuration is a warning (an error with \
            --strict), so a configuration can be checked away from the host it is meant for: files \
            the keys name that cannot be read or made here, agent programs not found in the agent's \
            PATH (and what a /usr/bin/env command runs), users and groups this host lacks, a \
            directory an agent's user cannot search on the way to the notify socket, a \
            containment the host cannot provide. Hosts in URLs (Redis, LiveKit) are not contacted. \
            Everything, warnings and errors too, is printed on standard output.

            Exit status: 0 the configuration is valid (there may be warnings); 1 errors: what \
            corral serve would fail at, or warnings with --strict; 2 refused as corral serve refuses \
            it at start-up, with its exit status 2: a file that cannot be read or is not a JSON \
            object, an unknown key, a bad value, a reference to a missing profile, a non-loopback \
            listen without a token.

            Examples:
              corral check --config /etc/corral.json
              corral check --config /etc/corral.json --strict --json
            """
    )

    @OptionGroup var configurationFile: ConfigurationFileOption

    @Flag(name: .long, help: "Treat warnings (what this host lacks) as errors.")
    var strict = false

    @Flag(name: .long, help: "Print the result as JSON, with warnings and errors arrays.")
    var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var check = ConfigurationCheck(file: configurationFile.file(in: environment), environment: environment, strict: strict)
        StartupCheck.add(to: &check)
        print(json ? check.json : check.text)
        if check.exitStatus != 0 { throw ExitCode(check.exitStatus) }
    }
}
