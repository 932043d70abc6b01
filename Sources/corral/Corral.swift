import ArgumentParser

@main
struct Corral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Supervises voice-agent sessions: one agent process tree per session, ended completely.",
        subcommands: [Serve.self, Doctor.self]
    )
}
