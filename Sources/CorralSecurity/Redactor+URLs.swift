extension Redactor {
    /// Replaces the password of every `scheme://user:password@` in `text`, and a user alone
    /// that looks like a token (`https://<token>@host`, as git and many APIs take one): at least
    /// 16 characters of a token's alphabet. Names such as `git@` or `postgres@` stay.
    ///
    /// A password may hold `/`, `?`, `#` or `@` written as they are: they end the user
    /// information for a URL parser, not for whoever reads the log. So `user:pa/ss@db` loses
    /// `pa/ss`, unless what follows the `:` is a port (`localhost:5173/@vite`,
    /// `example.com:8443/?email=a@b`); and `user:p@ss/w@db` loses `p@ss/w`, as `ss` is no host
    /// name (one has a dot or a port, or is localhost).
    ///
    /// In JSON a `/` may be written `\/` (PHP's, Java's and Foundation's encoders do): a scheme's
    /// `:\/\/` counts as `://`, and a backslash ends the authority as a `/` does.
    public func urls(in text: String) -> String {
        guard text.contains("://") || text.contains(#":\/\/"#), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = Self.schemeSeparator(in: rest) {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: Self.endsAuthority) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let (colon, at) = Self.password(in: rest, authorityEnd: authorityEnd) {
                result += rest[...colon] + Self.mask
                rest = rest[at...]
                continue
            }
            if let at = authority.lastIndex(of: "@"), Self.looksLikeToken(authority[..<at]) {
                result += Self.mask + authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }

    /// Replaces the password of every `user:password@host` that has no scheme: a Go MySQL DSN
    /// (`root:pw@tcp(db:3306)/app`), a proxy or Redis setting (`user:pw@proxy:3128`), a log's
    /// "connecting to app:pw@db.internal". The word must start with the user (letters, digits,
    /// `._~-`), and what follows the `@` must be a host (with a dot or a port, localhost, `[…]`) or
    /// a DSN's `tcp(`/`unix(`; the password ends at the last such `@` of the word, so it may hold
    /// `@` itself. `git@github.com:o/r`, `image:tag@sha256:…`, `mailto:a@b.c` and `from:a@b.c` stay.
    public func bareUserInformation(in text: String) -> String {
        String(decoding: bareUserInformation(in: Array(text.utf8)), as: UTF8.self)
    }

    func bareUserInformation(in bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(UInt8(ascii: "@")), bytes.contains(UInt8(ascii: ":")) else { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        var wordStarts = true
        while index < bytes.count {
            if wordStarts, let password = Self.barePassword(in: bytes, wordAt: index) {
                output += bytes[index..<password.lowerBound]
                output += SecretScanner.mask
                index = password.upperBound
                wordStarts = false
                continue
            }
            wordStarts = Self.startsWord(after: bytes[index])
            output.append(bytes[index])
            index += 1
        }
        return output
    }

    /// The password of the `user:password@host` word at `start`, if it is one. Bytes are looked
    /// at in place: a line may hold a word start and an `@` every few bytes.
    private static func barePassword(in bytes: [UInt8], wordAt start: Int) -> Range<Int>? {
        var colon = start
        while colon < bytes.count, isUserByte(bytes[colon]) { colon += 1 }
        guard colon > start, colon + 1 < bytes.count, bytes[colon] == UInt8(ascii: ":") else { return nil }
        if colon - start <= 9, nonHierarchicalSchemes.contains(String(decoding: bytes[start..<colon], as: UTF8.self).lowercased()) { return nil }
        let passwordStart = colon + 1
        guard ![UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "@")].contains(bytes[passwordStart]) else { return nil }
        // A password and its host are short: looking no further than this keeps a line of
        // `a:b=a:b=…` (a word start at every `=`) linear.
        var wordEnd = passwordStart
        while wordEnd < min(bytes.count, passwordStart + 128), !endsBareWord(bytes[wordEnd]) { wordEnd += 1 }
        var at = wordEnd
        while at > passwordStart + 1 {
            at -= 1
            guard bytes[at] == UInt8(ascii: "@") else { continue }
            var hostEnd = at + 1
            while hostEnd < wordEnd, !"/?#(,;)@".utf8.contains(bytes[hostEnd]) { hostEnd += 1 }
            let host = bytes[(at + 1)..<hostEnd]
            let dsn = hostEnd < wordEnd && bytes[hostEnd] == UInt8(ascii: "(") && (host.elementsEqual("tcp".utf8) || host.elementsEqual("unix".utf8))
            guard dsn || isHost(host) else { continue }
            // `db.internal:5432@…` is a host and its port.
            if isPort(bytes[passwordStart..<at]), isHost(bytes[start..<colon]) { return nil }
            return passwordStart..<at
        }
        return nil
    }

    /// `isHostName` on bytes: a dot, a port, `[…]` or localhost.
    private static func isHost(_ host: ArraySlice<UInt8>) -> Bool {
        guard let first = host.first else { return false }
        if first == UInt8(ascii: "[") || host.contains(UInt8(ascii: ".")) { return true }
        if let colon = host.lastIndex(of: UInt8(ascii: ":")), isPort(host[(colon + 1)...]) { return true }
        return host.count == 9 && host.map { $0 | 0x20 }.elementsEqual("localhost".utf8)
    }

    private static func isPort(_ text: ArraySlice<UInt8>) -> Bool {
        (1...5).contains(text.count) && text.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// URI schemes written without `//` whose `scheme:name@host` names no password, and the
    /// names of mail fields (`from:ann@example.com`), whose value is an address.
    private static let nonHierarchicalSchemes: Set<String> = [
        "mailto", "sip", "sips", "xmpp", "im", "pres", "acct", "news", "email", "e-mail", "mail", "from", "to", "cc", "bcc", "reply-to",
        "sender", "recipient",
    ]

    private static func isUserByte(_ byte: UInt8) -> Bool {
        SecretScanner.isNameByte(byte) || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "%")
    }

    private static func startsWord(after byte: UInt8) -> Bool {
        !isUserByte(byte) && byte != UInt8(ascii: ":") && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "@")
    }

    private static func endsBareWord(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "`")
    }

    /// A URL's user that is a credential rather than a name.
    static func looksLikeToken(_ user: Substring) -> Bool {
        user.count >= 16 && user.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }
    }

    /// Where the password of the URL that `rest` (what follows `://`) starts with begins (its `:`)
    /// and ends (the `@` after it), if it has one.
    private static func password(in rest: Substring, authorityEnd: Substring.Index) -> (colon: Substring.Index, at: Substring.Index)? {
        let authority = rest[..<authorityEnd]
        guard !authority.hasPrefix("[") else { return nil }
        if let at = authority.lastIndex(of: "@") {
            guard let colon = authority[..<at].firstIndex(of: ":") else { return nil }
            if !isHostName(authority[authority.index(after: at)...]), let later = userEnd(after: authorityEnd, in: rest) { return (colon, later) }
            return (colon, at)
        }
        guard let colon = authority.firstIndex(of: ":"), let at = userEnd(after: authorityEnd, in: rest) else { return nil }
        // `admin:2024/x@db` could be either: a host name before the digits makes them a port.
        if isPort(authority[authority.index(after: colon)...]), isHostName(authority[..<colon]) { return nil }
        return (colon, at)
    }

    /// The `@` that ends user information holding `/`, `?` or `#`: the first one after `start`
    /// in the same word, or the last one of the host that follows it (`pa/s@s@db`).
    private static func userEnd(after start: Substring.Index, in rest: Substring) -> Substring.Index? {
        guard let first = rest[start...].prefix(while: { !$0.isWhitespace }).firstIndex(of: "@") else { return nil }
        let host = rest[rest.index(after: first)...].prefix { !endsAuthority($0) }
        return host.lastIndex(of: "@") ?? first
    }

    private static func endsAuthority(_ character: Character) -> Bool {
        character == "/" || character == "?" || character == "#" || character == "\\" || character.isWhitespace
    }

    /// The first `://`, or `:\/\/` as JSON may escape it.
    private static func schemeSeparator(in text: Substring) -> Range<Substring.Index>? {
        let plain = text.range(of: "://")
        guard let escaped = text.range(of: #":\/\/"#) else { return plain }
        guard let plain else { return escaped }
        return plain.lowerBound < escaped.lowerBound ? plain : escaped
    }

    /// `db.internal`, `localhost`, `[::1]`, or anything with a port (`db:5432`).
    private static func isHostName(_ host: Substring) -> Bool {
        if let colon = host.lastIndex(of: ":"), isPort(host[host.index(after: colon)...]) { return true }
        return host.contains(".") || host.lowercased() == "localhost" || host.hasPrefix("[")
    }

    private static func isPort(_ text: Substring) -> Bool {
        (1...5).contains(text.count) && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
