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

    /// A tokenizer is no secret: a name is one only if it still matches with the `TOKEN` of
    /// `TOKENIZ…` taken out (`tokenizer` does not, `TOKENIZER_SECRET` does).
    func isSecret(uppercased name: [UInt8]) -> Bool {
        matches(name) && matches(Self.neutralized(name, before: "IZ"))
    }

    /// Whether a secret's name matches only for a `TOKENS` in it: a count of a model's tokens
    /// (`prompt_tokens`, `maxTokens`), whose value is hidden only if it is not a number
    /// (`AUTH_TOKENS=…` still goes; `accessTokenSecret` is a secret's name by its `SECRET`).
    func countsTokens(uppercased name: [UInt8]) -> Bool {
        !matches(Self.neutralized(name, before: "S"))
    }

    /// Whether `value`, named `name`, is hidden.
    func hides(_ name: String, value: some Collection<UInt8>) -> Bool {
        let name = Array(name.uppercased().utf8)
        return isSecret(uppercased: name) && !(countsTokens(uppercased: name) && Self.isNumber(value))
    }

    /// A number as a count or a rate is written: digits, with a sign, a point or an exponent.
    static func isNumber(_ value: some Collection<UInt8>) -> Bool {
        value.contains { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            && value.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || "+-.eE".utf8.contains($0) }
    }

    private func matches(_ name: [UInt8]) -> Bool {
        globs.contains { Self.glob($0, matches: name) }
    }

    /// `name` with each `TOKEN` that `suffix` follows replaced by `_`.
    private static func neutralized(_ name: [UInt8], before suffix: String) -> [UInt8] {
        let word = Array(("TOKEN" + suffix).utf8)
        var result: [UInt8] = []
        var index = 0
        while index < name.count {
            if occurs(word, in: name, at: index) {
                result.append(UInt8(ascii: "_"))
                index += 5
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
            redacted[name] = hides(name, value: value.utf8) ? Self.mask : text(value)
        }
        return redacted
    }

    /// An argv, element by element: a secret's `--name=value` or `NAME=value` loses its whole
    /// value (spaces included, it is one argument), `--name value` its next element, and every
    /// other element is redacted as text, so a `sh -c` string is covered too.
    public func arguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        // The secret option the next element is the value of.
        var secretOption: String?
        for argument in arguments {
            if let option = secretOption {
                secretOption = nil
                if hides(option, value: argument.utf8) {
                    result.append(Self.mask)
                    continue
                }
            }
            let option = argument.drop { $0 == "-" }
            if let equals = option.firstIndex(of: "="), option[..<equals].utf8.allSatisfy(SecretScanner.isNameByte) {
                let hidden = hides(String(option[..<equals]), value: option[option.index(after: equals)...].utf8)
                result.append(hidden ? argument[...equals] + Self.mask : text(argument))
                continue
            }
            if option.count < argument.count, isSecret(String(option)) {
                secretOption = String(option)
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
