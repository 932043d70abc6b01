import CorralConfiguration
import CorralCore
import CorralPlatform
import Foundation

/// An agent's command as a session start would find it, found without running anything: the
/// program's absolute path (as `AgentCommand.resolve` finds it, in the agent's `PATH`), for a
/// command that runs `env`, the program `env` would run in its turn, and the script an
/// interpreter would run (`InterpreterScript`).
struct AgentResolution: Sendable, Equatable {
    /// `command[0]`, found; nil where it would not be.
    let executable: String?
    /// What `env` runs, for a command that runs `env`, and where it would be found.
    let envProgram: ConfigurationPlan.EnvProgram?
    /// Why the agent would not start, or nil.
    let problem: String?

    /// - Parameters:
    ///   - agentPath: the agent's `PATH` (its profile's, else corral's own).
    ///   - workingDirectory: corral's working directory.
    init(_ profile: AgentProfile, agentPath: String?, workingDirectory: String) {
        let directory = profile.workingDirectory.map { $0.hasPrefix("/") ? $0 : workingDirectory + "/" + $0 } ?? workingDirectory
        let program = profile.command[0]
        guard let executable = Self.find(program, in: directory, searchPath: agentPath) else {
            self.init(executable: nil, envProgram: nil, problem: Self.notFound(program, searchPath: agentPath, runBy: nil))
            return
        }
        if let problem = Self.interpreterProblem(of: executable, in: directory, agentPath: agentPath) {
            self.init(executable: executable, envProgram: nil, problem: problem)
            return
        }
        let script = InterpreterScript(profile.command)?.problem(in: directory)
        guard let env = EnvInvocation(profile.command, agentPath: agentPath ?? EnvInvocation.defaultSearchPath) else {
            self.init(executable: executable, envProgram: nil, problem: script)
            return
        }
        let envDirectory = env.directory.map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 } ?? directory
        let found = Self.find(env.program, in: envDirectory, searchPath: env.searchPath)
        self.init(
            executable: executable, envProgram: ConfigurationPlan.EnvProgram(name: env.program, path: found),
            problem: found == nil ? Self.notFound(env.program, searchPath: env.searchPath, runBy: executable) : script
        )
    }

    private init(executable: String?, envProgram: ConfigurationPlan.EnvProgram?, problem: String?) {
        self.executable = executable
        self.envProgram = envProgram
        self.problem = problem
    }

    /// An executable regular file, as the spawn would find it.
    private static func find(_ program: String, in directory: String, searchPath: String?) -> String? {
        guard let path = AgentCommand.resolve(program, workingDirectory: directory, searchPath: searchPath), PathProbe.kind(path) == .file else {
            return nil
        }
        return path
    }

    /// A script whose `#!` line names an interpreter that is not there, or has env run a program
    /// that is not in the agent's PATH: every start would fail as if the script were missing.
    /// (The kernel takes a `#!` path without a slash as relative to the working directory.)
    private static func interpreterProblem(of script: String, in directory: String, agentPath: String?) -> String? {
        guard let interpreter = ScriptInterpreter(ofScript: script) else { return nil }
        let located = interpreter.path.hasPrefix("/") ? interpreter.path : directory + "/" + interpreter.path
        guard PathProbe.kind(located) == .file, FileManager.default.isExecutableFile(atPath: located) else {
            return "\(script) names \(interpreter.path) on its #! line, which does not exist or is not an executable file"
        }
        guard let env = EnvInvocation(interpreter.command(running: script), agentPath: agentPath ?? EnvInvocation.defaultSearchPath) else {
            return nil
        }
        let envDirectory = env.directory.map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 } ?? directory
        guard find(env.program, in: envDirectory, searchPath: env.searchPath) == nil else { return nil }
        return notFound(env.program, searchPath: env.searchPath, runBy: "the #! line of \(script) (\(interpreter.path))")
    }

    /// "program 'x' is not in PATH (…)", or "/usr/bin/env runs 'x', which is not in PATH (…)".
    private static func notFound(_ program: String, searchPath: String?, runBy runner: String?) -> String {
        let what = program.contains("/")
            ? "does not exist or is not an executable file"
            : "is not in PATH (\(searchPath ?? AgentCommand.defaultSearchPath))"
        return runner.map { "\($0) runs '\(program)', which \(what)" } ?? "program '\(program)' \(what)"
    }
}
