import Foundation

/// The interpreter a script's `#!` line names, as Linux reads it: the first word after `#!`, and
/// the rest of the line, trimmed, as one argument. A start fails with ENOENT when it is missing,
/// as if the script were: the spawn's error and `corral check` name it instead.
package struct ScriptInterpreter: Equatable, Sendable {
    package let path: String
    package let argument: String?

    /// The kernel reads no further than this for the `#!` line.
    private static let lineLimit = 256

    /// Nil when `file` cannot be read or does not start with `#!`.
    package init?(ofScript file: String) {
        guard let handle = FileHandle(forReadingAtPath: file) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: Self.lineLimit), head.starts(with: Array("#!".utf8)) else { return nil }
        let line = String(decoding: head.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let trimmed = line.drop(while: isBlank)
        let word = trimmed.prefix { !isBlank($0) }
        guard !word.isEmpty else { return nil }
        let rest = trimmed.dropFirst(word.count).trimmingCharacters(in: .whitespaces)
        self.path = String(word)
        self.argument = rest.isEmpty ? nil : rest
    }

    /// What execve runs for `script`: the interpreter, its argument, the script.
    package func command(running script: String) -> [String] {
        [path] + (argument.map { [$0] } ?? []) + [script]
    }
}
