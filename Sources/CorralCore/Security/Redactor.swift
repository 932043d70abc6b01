/// Hides secrets in what corral shows: environment values and command-line arguments whose name
/// matches a pattern (`*TOKEN*`, `*SECRET*`, `*KEY*`, `*PASSWORD*` by default; `*` is the only
/// wildcard, case is ignored), `--name=value` and `--name value` arguments with such names, and
/// passwords in URLs (`scheme://user:password@host`).
public struct Redactor: Sendable {
    public static let defaultPatterns = ["*TOKEN*", "*SECRET*", "*KEY*", "*PASSWORD*"]
    public static let mask = "[redacted]"

    public let patterns: [String]

    public init(patterns: [String] = Redactor.defaultPatterns) {
        self.patterns = patterns.map { $0.uppercased() }
    }

    /// Whether a variable or option name is a secret's.
    public func isSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return patterns.contains { Self.glob($0, matches: upper) }
    }

    public func environment(_ variables: [String: String]) -> [String: String] {
        var redacted: [String: String] = [:]
        for (name, value) in variables {
            redacted[name] = isSecret(name) ? Self.mask : urls(in: value)
        }
        return redacted
    }

    public func arguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var hideNext = false
        for argument in arguments {
            if hideNext {
                result.append(Self.mask)
                hideNext = false
                continue
            }
            if argument.hasPrefix("-") {
                let option = argument.drop { $0 == "-" }
                if let equals = option.firstIndex(of: "=") {
                    let name = option[..<equals]
                    if isSecret(String(name)) {
                        result.append(String(argument.prefix(argument.count - option.count)) + name + "=" + Self.mask)
                        continue
                    }
                } else if isSecret(String(option)) {
                    hideNext = true
                }
            } else if let equals = argument.firstIndex(of: "="), isSecret(String(argument[..<equals])) {
                result.append(argument[..<equals] + "=" + Self.mask)
                continue
            }
            result.append(urls(in: argument))
        }
        return result
    }

    /// `NAME=value` pairs with secret names and URL passwords in free text (a log line).
    public func text(_ line: String) -> String {
        var output = ""
        var word = ""
        func flush() {
            if let equals = word.firstIndex(of: "="), isSecret(String(word[..<equals]).trimmingLeading("-")) {
                output += word[...equals] + Self.mask
            } else {
                output += urls(in: word)
            }
            word = ""
        }
        for character in line {
            if character.isWhitespace || character == "\"" || character == "'" || character == "," {
                flush()
                output.append(character)
            } else {
                word.append(character)
            }
        }
        flush()
        return output
    }

    /// Replaces the password of every `scheme://user:password@` in `text`.
    public func urls(in text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" || $0.isWhitespace } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += authority[...colon] + Self.mask + authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }

    static func glob(_ pattern: String, matches text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return pattern == text }
        var remaining = Substring(text)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard remaining.hasPrefix(part) else { return false }
                remaining = remaining.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || remaining.hasSuffix(part)
            } else if !part.isEmpty {
                guard let found = remaining.range(of: part) else { return false }
                remaining = remaining[found.upperBound...]
            }
        }
        return true
    }
}

extension String {
    fileprivate func trimmingLeading(_ character: Character) -> String {
        String(drop { $0 == character })
    }
}
