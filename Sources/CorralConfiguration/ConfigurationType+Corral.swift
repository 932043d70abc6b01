import CorralPlatform
import Foundation
import RedisClient

/// The types of corral's own keys: addresses, stores, files, argv, users.
extension ConfigurationType where Value == CorralConfiguration.ListenAddress {
    /// `HOST:PORT` or `[IPv6]:PORT`; an empty host is 127.0.0.1.
    static var listenAddress: Self {
        Self(summary: "`HOST:PORT`", environment: .text, show: { json($0.description) }) { value, context throws(CorralError) in
            guard case .string(let text) = value else { throw context.error("expected a string, got \(value.typeName)") }
            var host: Substring
            var port: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                    throw context.error("expected [IPv6]:PORT, got '\(text)'")
                }
                host = text[text.index(after: text.startIndex)..<close]
                port = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.lastIndex(of: ":") else { throw context.error("expected HOST:PORT, got '\(text)'") }
                host = text[..<colon]
                port = text[text.index(after: colon)...]
            }
            if host.isEmpty { host = "127.0.0.1" }
            guard let number = Int(port), (0...65535).contains(number) else {
                throw context.error("'\(port)' is not a port number (0-65535)")
            }
            return .init(host: String(host), port: number)
        }
    }
}

extension ConfigurationType where Value == CorralConfiguration.StoreLocation {
    /// `sqlite:PATH`, `memory` or a Redis URL.
    static var storeLocation: Self {
        let show: @Sendable (Value) -> String? = { store in
            switch store {
            case .sqlite(let path): json("sqlite:" + path)
            case .memory: json("memory")
            case .redis(let url): json(url)
            }
        }
        return Self(summary: "`sqlite:PATH`, `memory` or `redis://…`", environment: .text, show: show) { value, context throws(CorralError) in
            guard case .string(let text) = value else { throw context.error("expected a string, got \(value.typeName)") }
            if text == "memory" { return .memory }
            if text.hasPrefix("sqlite:") {
                let path = String(text.dropFirst("sqlite:".count))
                guard !path.isEmpty else { throw context.error("sqlite: needs a path, e.g. sqlite:corral.db") }
                return .sqlite(path: path)
            }
            if text.hasPrefix("redis://") || text.hasPrefix("rediss://") {
                do throws(RedisError) {
                    _ = try RedisURL(parsing: text)
                } catch {
                    throw context.error(error.message)
                }
                return .redis(url: text)
            }
            throw context.error("expected sqlite:PATH, memory or redis://host:port[/db] (a password as :password@ before the host), got '\(RedisURL.quoted(text))'")
        }
    }
}

extension ConfigurationType where Value == String {
    /// A file whose content, trimmed, is the value: a secret kept out of the configuration. A
    /// file that cannot be read is a problem of the host (`corral check` reads past it, with an
    /// empty secret).
    static var secretFile: Self {
        Self(summary: "path", environment: .text, show: { _ in nil }) { value, context throws(CorralError) in
            guard case .string(let file) = value, !file.isEmpty else { throw context.error("expected a path, got \(value.typeName)") }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                try context.hostProblem("cannot read \(file)")
                return ""
            }
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if secret.isEmpty { try context.hostProblem("\(file) is empty") }
            return secret
        }
    }

    /// A path to a file corral can read now (a problem of the host where it cannot).
    static var readableFile: Self {
        path.map(show: { json($0) }) { file, context throws(CorralError) in
            if !FileManager.default.isReadableFile(atPath: file) { try context.hostProblem("cannot read \(file)") }
            return file
        }
    }

    /// One argument of an agent's argv or one value of its environment: any string a C string
    /// can carry.
    static var argument: Self {
        Self(summary: "string", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            guard case .string(let text) = value else { throw context.error("expected a string, got \(value.typeName)") }
            guard !text.contains("\0") else { throw context.error("must not contain NUL bytes") }
            return text
        }
    }

    /// A host name for the Host header check: no scheme, path or user.
    static var hostName: Self {
        Self(summary: "host name", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            guard case .string(let host) = value, !host.isEmpty, !host.contains(where: { "/@ ".contains($0) }) else {
                throw context.error("expected a host name, e.g. corral.internal")
            }
            return host
        }
    }

    /// A user or group: a name, or a number.
    static var account: Self {
        Self(summary: "name or number", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            switch value {
            case .string(let name) where !name.isEmpty && !name.contains("\0"): return name
            case .number(let number) where number >= 0 && number == number.rounded() && number <= Double(UInt32.max): return String(Int(number))
            default: throw context.error("expected a name or a number, got \(value.typeName)")
            }
        }
    }
}

extension ConfigurationType where Value == [UInt8] {
    /// A SHA-256 digest as 64 hex digits.
    static var sha256: Self {
        Self(summary: "64 hex digits", environment: .text, show: { _ in nil }) { value, context throws(CorralError) in
            guard case .string(let hex) = value, let digest = Hex.bytes(hex), digest.count == 32 else {
                throw context.error("expected the token's SHA-256 as 64 hex digits (e.g. printf %s TOKEN | sha256sum)")
            }
            return digest
        }
    }
}

extension ConfigurationType where Value == UInt64 {
    /// A size in bytes; 0 where a key says what 0 means.
    static var bytes: Self {
        ConfigurationType<Root, Int>.integer(minimum: 0).map(show: { String($0) }) { count, _ in UInt64(count) }
    }
}
