/// `redis://[:password@]host:port[/db]` (also `redis://user:password@…`, Redis 6 ACL users).
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    public var user: String?
    public var password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
    }

    public init(parsing text: String) throws(RedisError) {
        if text.hasPrefix("rediss://") {
            throw RedisError(.invalidURL, "rediss:// (Redis over TLS) is not supported by this client; use redis:// on a trusted network, or a TLS tunnel")
        }
        guard text.hasPrefix("redis://") else { throw RedisError(.invalidURL, "expected redis://[:password@]host:port[/db], got '\(Self.quoted(text))'") }
        var rest = Substring(text.dropFirst("redis://".count))
        // The credentials first, up to the last `@`: a password may hold `/` and `@` (the host and
        // the database number cannot).
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = credentials[..<colon]
                user = name.isEmpty ? nil : String(name)
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                password = String(credentials).removingPercentEncoding
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { throw RedisError(.invalidURL, "'\(path)' is not a database number") }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") || rest[..<colon].hasSuffix("]") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw RedisError(.invalidURL, "'\(rest[rest.index(after: colon)...])' is not a port")
            }
            port = number
            host = String(rest[..<colon])
        }
        host = host.trimmingCharacters(in: ["[", "]"])
        guard !host.isEmpty else { throw RedisError(.invalidURL, "no host in '\(Self.quoted(text))'") }
        // A name or an address: a space or a stray character is a typo, found here rather than by
        // a name lookup that fails at every connection.
        guard host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_:%".unicodeScalars.contains($0)) }) else {
            throw RedisError(.invalidURL, "'\(host)' is not a host name or address")
        }
        self.init(host: host, port: port, database: database, user: user, password: password)
    }

    /// `text` as a message may quote it: whatever stands before its last `@` (a user and a
    /// password, however the rest is mistyped) left out, since messages end up in logs.
    public static func quoted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        return "…" + text[at...]
    }
}

extension String {
    fileprivate var removingPercentEncoding: String {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
