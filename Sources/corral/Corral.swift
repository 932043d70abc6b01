import ArgumentParser
import Foundation

@main
struct Corral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Supervises voice-agent sessions: one agent process tree per session, ended completely.",
        discussion: """
            Server:  corral serve, corral check, corral doctor, corral release-cgroups (systemd ExecStopPost=)
            Client:  corral sessions | start | end | inspect | logs  (talks to $CORRAL_URL)

            Exit status: 0 ok, 1 the server refused, 2 usage error, 3 corral unreachable.
            """,
        subcommands: [Serve.self, Check.self, Doctor.self, ReleaseCgroups.self, Sessions.self, Start.self, End.self, Inspect.self, Logs.self]
    )

    /// Like ArgumentParser's, but usage errors exit with 2 (not 64): the documented contract.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
