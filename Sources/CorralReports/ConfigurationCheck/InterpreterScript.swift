import CorralPlatform
/// The script an interpreter in an agent's command runs (`python3 agent.py`,
/// `/usr/bin/env node server.js`, `bash run.sh`), so that `corral check` can say it is missing:
/// the interpreter itself resolves, and the agent would still fail at every start. Found only
/// where it can be told for certain: the first argument after the interpreter that is not an
/// option, unless an option first says the code comes from elsewhere (`-c`, `-m`, `-e`…).
struct InterpreterScript: Equatable {
    let interpreter: String
    let path: String

    /// Options after which the interpreter runs no script file.
    private static let inlineCode: Set = ["-c", "-m", "-e", "-E", "--eval", "-p", "--print", "-", "-i", "--interactive"]
    /// Options that take the next argument as their value.
    private static let withValue: Set = ["-W", "-X", "-r", "--require", "-I", "--import", "--loader", "--env-file", "-o", "-O"]

    /// Nil when the command runs no known interpreter, or what it runs cannot be told.
    init?(_ command: [String]) {
        guard let index = command.firstIndex(where: Self.isInterpreter) else { return nil }
        var rest = command[(index + 1)...].makeIterator()
        while let argument = rest.next() {
            if Self.inlineCode.contains(argument) { return nil }
            if Self.withValue.contains(argument) {
                _ = rest.next()
                continue
            }
            if argument.hasPrefix("-") { continue }
            interpreter = command[index]
            path = argument
            return
        }
        return nil
    }

    /// python, python3, python3.11, node, nodejs, bash, sh, dash, zsh, ruby, perl.
    static func isInterpreter(_ program: String) -> Bool {
        let name = program.split(separator: "/").last.map(String.init) ?? program
        if name.hasPrefix("python") { return name.dropFirst(6).allSatisfy { $0.isNumber || $0 == "." } }
        return ["node", "nodejs", "bash", "sh", "dash", "zsh", "ruby", "perl"].contains(name)
    }

    /// Why the script would not be run, or nil: it must be a readable file. A relative path is
    /// taken in `directory`, the agent's working directory.
    func problem(in directory: String) -> String? {
        let file = path.hasPrefix("/") ? path : directory + "/" + path
        switch PathProbe.kind(file) {
        case .file: return nil
        case .missing: return "\(interpreter) would run '\(path)', which does not exist" + (path.hasPrefix("/") ? "" : " (in \(directory))")
        case .directory, .other: return "\(interpreter) would run '\(path)', which is not a file"
        }
    }
}
