/// What an agent command that starts with `env` (`/usr/bin/env python3 agent.py`) runs: the
/// program `env` looks up, and the PATH and directory it looks it up with. `corral check` says
/// whether that program is there, as well as `env` itself. GNU env's options are understood;
/// with one it does not know (or a `-S` string with quotes), what runs cannot be told.
package struct EnvInvocation: Equatable {
    /// The program env runs, as written (a bare name is looked up in `searchPath`).
    package let program: String
    /// The PATH env looks the program up in: the agent's, one the command sets (`PATH=…`), or
    /// the C library's default where the command clears it (`-i`, `-u PATH`).
    package let searchPath: String?

    /// What glibc's execvp searches when there is no PATH.
    package static let defaultSearchPath = "/bin:/usr/bin"
    /// The directory env changes to first (`-C DIR`), if any.
    package let directory: String?

    init(program: String, searchPath: String?, directory: String?) {
        self.program = program
        self.searchPath = searchPath
        self.directory = directory
    }

    /// Nil when `command[0]` is not a program named `env`, or what it runs cannot be told.
    package init?(_ command: [String], agentPath: String?) {
        guard let first = command.first, first.split(separator: "/").last == "env" else { return nil }
        var rest = Array(command.dropFirst())
        var path = agentPath
        var directory: String?
        var optionsEnded = false
        while !rest.isEmpty {
            let argument = rest.removeFirst()
            if !optionsEnded && argument.hasPrefix("-") {
                switch argument {
                case "--": optionsEnded = true
                case "-", "-i", "--ignore-environment": path = Self.defaultSearchPath
                case "-0", "--null", "-v", "--debug": break
                case "-u", "-C", "-S":
                    guard !rest.isEmpty else { return nil }
                    let value = rest.removeFirst()
                    if argument == "-C" { directory = value }
                    if argument == "-u" && value == "PATH" { path = Self.defaultSearchPath }
                    if argument == "-S" {
                        guard let words = Self.split(value) else { return nil }
                        rest = words + rest
                    }
                case _ where argument.hasPrefix("--unset="):
                    if argument == "--unset=PATH" { path = Self.defaultSearchPath }
                case _ where argument.hasPrefix("--chdir="):
                    directory = String(argument.dropFirst("--chdir=".count))
                case _ where argument.hasPrefix("--split-string="):
                    guard let words = Self.split(String(argument.dropFirst("--split-string=".count))) else { return nil }
                    rest = words + rest
                case _ where argument.hasPrefix("--block-signal") || argument.hasPrefix("--default-signal") || argument.hasPrefix("--ignore-signal"):
                    break
                case _ where argument.hasPrefix("-u") || argument.hasPrefix("-C") || argument.hasPrefix("-S"):
                    // The option's value joined to it: -uNAME, -CDIR, -SSTRING.
                    rest.insert(String(argument.dropFirst(2)), at: 0)
                    rest.insert(String(argument.prefix(2)), at: 0)
                default:
                    return nil
                }
            } else if let equals = argument.firstIndex(of: "="), argument.first != "=" {
                optionsEnded = true
                if argument[..<equals] == "PATH" { path = String(argument[argument.index(after: equals)...]) }
            } else {
                self.init(program: argument, searchPath: path, directory: directory)
                return
            }
        }
        return nil
    }

    /// `-S`'s string split into words, or nil where it quotes or escapes (not followed here).
    private static func split(_ text: String) -> [String]? {
        guard !text.contains(where: { "\"'\\$".contains($0) }) else { return nil }
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }
}
