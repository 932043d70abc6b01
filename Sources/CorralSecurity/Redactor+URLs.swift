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
    public func urls(in text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
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
        character == "/" || character == "?" || character == "#" || character.isWhitespace
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
