import CorralCore
import Foundation
import Hummingbird
import CorralConfiguration

/// Without any token, corral answers only requests addressed to a name it is known by: loopback
/// names and addresses, the listen address, `advertise_url`'s host and `allowed_hosts`. A web
/// page that re-points its own name at 127.0.0.1 (DNS rebinding) reaches corral's port as
/// "same-origin", but its requests still carry its own name in `Host`, so they get 421. With a
/// token, `Host` is not checked: the token is the credential, and load balancers send names of
/// their own. `/healthz`, `/readyz` and the LiveKit webhook are registered before this check.
struct HostCheck: RouterMiddleware {
    typealias Context = CorralRequestContext

    private let names: Set<String>

    init(configuration: CorralConfiguration) {
        var names: Set<String> = ["localhost", "::1", configuration.listen.host.lowercased()]
        if let host = URL(string: configuration.resolvedAdvertiseURL)?.host {
            names.insert(Self.hostname(host))
        }
        for host in configuration.allowedHosts { names.insert(Self.hostname(host)) }
        self.names = names
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authority = request.head.authority, allows(authority) else {
            throw APIError(
                .misdirectedRequest,
                "corral has no api_token, so it answers only for its own names (loopback, listen, advertise_url, allowed_hosts); "
                    + "Host \(request.head.authority.map { "'\($0)'" } ?? "missing") is not one of them"
            )
        }
        return try await next(request, context)
    }

    func allows(_ authority: String) -> Bool {
        guard let host = Self.stripPort(authority).map(Self.hostname) else { return false }
        return names.contains(host) || Self.isLoopback(host)
    }

    /// `localhost`, `::1` or an address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        let name = hostname(host)
        return name == "localhost" || name == "::1" || isLoopbackIPv4(name)
    }

    /// `[::1]:8080` → `[::1]`, `localhost:8080` → `localhost`.
    /// Nil where what follows the host is not a port (`localhost:evil.com`, `127.0.0.1:80@evil.com`,
    /// `[::1]junk`): no browser sends such a name, and it is not one of corral's.
    private static func stripPort(_ authority: String) -> Substring? {
        let host: Substring
        let rest: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            rest = authority[authority.index(after: close)...]
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            rest = authority[colon...]
        } else {
            return Substring(authority)
        }
        guard rest.isEmpty || (rest.first == ":" && (1...6).contains(rest.count) && rest.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return host
    }

    /// Lower case, without IPv6 brackets or a trailing dot.
    private static func hostname(_ host: some StringProtocol) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// 127.0.0.0/8, written as four decimal numbers.
    private static func isLoopbackIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && UInt8(part) != nil }
    }
}
