/// Hides secrets in what corral shows: environment values and command-line arguments whose name
/// matches a pattern (`defaultPatterns`; `*` is the only wildcard, case is ignored), and, inside
/// any text (a log line, a `sh -c` string, a variable's value), what follows such a name
/// (`Redactor+Text.swift`), credentials after `Authorization:` and `Bearer`, passwords in URLs
/// (`scheme://user:password@host`, and `user:password@host` without a scheme,
/// `Redactor+URLs.swift`) and tokens of well-known shapes (`KnownSecretShapes`).
public struct Redactor: Sendable {
    public static let defaultPatterns = ["*TOKEN*", "*SECRET*", "*KEY*", "*PASSWORD*", "*PASSWD*", "*PASSPHRASE*", "*CREDENTIAL*"]
    public static let mask = "[redacted]"

    public let patterns: [String]
    /// Each pattern's parts between its `*`s, as bytes: every word of every log line is matched.
    private let globs: [[[UInt8]]]

    public init(patterns: [String] = Redactor.defaultPatterns) {
        self.patterns = patterns.map { $0.uppercased() }
        globs = self.patterns.map { $0.split(separator: "*", omittingEmptySubsequences: false).map { Array($0.utf8) } }
    }

    /// Whether a variable or option name is a secret's.
    public func isSecret(_ name: String) -> Bool {
        isSecret(uppercased: Array(name.uppercased().utf8))
    }

    func isSecret(uppercased name: [UInt8]) -> Bool {
        guard globs.contains(where: { Self.glob($0, matches: name) }) else { return false }
        // Counts of a model's tokens (`prompt_tokens`, `MAX_TOKENS`) and its tokenizer are no
        // secrets: the name is one only if it still matches without those words.
        let counts = Self.withoutTokenCounts(name)
        return counts.count == name.count || globs.contains { Self.glob($0, matches: counts) }
    }

    private static let tokenCountWords = ["TOKENS", "TOKENIZ"].map { Array($0.utf8) }

    private static func withoutTokenCounts(_ name: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var index = 0
        while index < name.count {
            if let word = tokenCountWords.first(where: { occurs($0, in: name, at: index) }) {
                result.append(UInt8(ascii: "_"))
                index += word.count
            } else {
                result.append(name[index])
                index += 1
            }
        }
        return result
    }

    public func environment(_ variables: [String: String]) -> [String: String] {
        var redacted: [String: String] = [:]
        for (name, value) in variables {
            redacted[name] = isSecret(name) ? Self.mask : text(value)
        }
        return redacted
    }

    /// An argv, element by element: a secret's `--name=value` or `NAME=value` loses its whole
    /// value (spaces included, it is one argument), `--name value` its next element, and every
    /// other element is redacted as text, so a `sh -c` string is covered too.
    public func arguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var hideNext = false
        for argument in arguments {
            if hideNext {
                result.append(Self.mask)
                hideNext = false
                continue
            }
            let option = argument.drop { $0 == "-" }
            if let equals = option.firstIndex(of: "="), option[..<equals].utf8.allSatisfy(SecretScanner.isNameByte),
                isSecret(String(option[..<equals]))
            {
                result.append(argument[...equals] + Self.mask)
                continue
            }
            if option.count < argument.count, isSecret(String(option)) {
                hideNext = true
            }
            result.append(text(argument))
        }
        return result
    }

    /// `parts` are a pattern's pieces between its `*`s: the first must start the text, the last
    /// end it, the others follow in order between them.
    static func glob(_ parts: [[UInt8]], matches text: [UInt8]) -> Bool {
        guard parts.count > 1 else { return parts.first == text }
        let first = parts[0]
        let last = parts[parts.count - 1]
        guard text.count >= first.count + last.count, occurs(first, in: text, at: 0), occurs(last, in: text, at: text.count - last.count)
        else { return false }
        var position = first.count
        let end = text.count - last.count
        var index = 1
        while index < parts.count - 1 {
            let part = parts[index]
            while position + part.count <= end && !occurs(part, in: text, at: position) { position += 1 }
            guard position + part.count <= end else { return false }
            position += part.count
            index += 1
        }
        return true
    }

    private static func occurs(_ part: [UInt8], in text: [UInt8], at start: Int) -> Bool {
        guard start >= 0, start + part.count <= text.count else { return false }
        for offset in 0..<part.count where text[start + offset] != part[offset] { return false }
        return true
    }
}
