import CorralCore
@testable import CorralServer
import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Foundation
import Testing
@testable import CorralConfiguration

/// Every declared route, called over a real socket as its declaration says it may and may not
/// be: the role is enforced, and whatever the route answers is in the OpenAPI document.
@Suite("Every declared route: roles, documented statuses, methods")
struct RouteTableTests {
    static let tokens: [Role: String] = [.read: "read-token", .operate: "operate-token", .admin: "admin-token"]

    static func configure(_ configuration: inout CorralConfiguration) {
        configuration.tokens = Role.allCases.map { role in AccessToken(name: role.rawValue, sha256: sha256(tokens[role]!), role: role) }
    }

    @Test func everyRouteRefusesCallersWithoutItsRole() async throws {
        try await TestCorral(configure: Self.configure).run(live: true) { client in
            let port = try #require(client.port)
            let document = try await Self.document(client)
            for route in Routes.all {
                let documented = Self.statuses(document, route)
                #expect(!documented.isEmpty, "\(route.method) \(route.path) is not in the document")
                let anonymous = try await Self.call(route, token: nil, port: port)
                #expect(documented.contains(anonymous), "\(route.method) \(route.path) answers \(anonymous) without a token; documented: \(documented)")
                guard let role = route.role else {
                    #expect(anonymous != 401 && anonymous != 403, "\(route.method) \(route.path) is open, yet answers \(anonymous) without a token")
                    continue
                }
                #expect(anonymous == 401, "\(route.method) \(route.path) without a token: \(anonymous)")
                for lower in Role.allCases where lower < role {
                    let refused = try await Self.call(route, token: Self.tokens[lower], port: port)
                    #expect(refused == 403, "\(route.method) \(route.path) needs \(role), a \(lower) token got \(refused)")
                    #expect(documented.contains(refused), "\(route.method) \(route.path) answers \(refused), documented: \(documented)")
                }
                for enough in Role.allCases where enough >= role {
                    let answer = try await Self.call(route, token: Self.tokens[enough], port: port)
                    #expect(answer != 401 && answer != 403, "\(route.method) \(route.path) needs \(role), a \(enough) token got \(answer)")
                    #expect(documented.contains(answer), "\(route.method) \(route.path) answers \(answer), documented: \(documented)")
                }
            }
        }
    }

    /// Without tokens every caller holds `Identity.unauthenticated`'s role, and no more.
    @Test func withoutTokensEveryCallerHasTheAnonymousRole() async throws {
        try await TestCorral().run(live: true) { client in
            let port = try #require(client.port)
            let document = try await Self.document(client)
            for route in Routes.all {
                let answer = try await Self.call(route, token: nil, port: port)
                let documented = Self.statuses(document, route)
                #expect(documented.contains(answer), "\(route.method) \(route.path) answers \(answer), documented: \(documented)")
                if let role = route.role, role > Identity.unauthenticated.role {
                    #expect(answer == 403, "\(route.method) \(route.path) needs \(role), an anonymous caller got \(answer)")
                } else {
                    #expect(answer != 401 && answer != 403, "\(route.method) \(route.path): an anonymous caller got \(answer)")
                }
            }
        }
    }

    /// A method a path does not have gets 405, with the declared ones in `Allow`.
    @Test func otherMethodsAreNotAllowed() async throws {
        try await TestCorral(configure: Self.configure).run(live: true) { client in
            let port = try #require(client.port)
            for (path, routes) in Dictionary(grouping: Routes.all, by: \.path) {
                let declared = Set(routes.map(\.method.rawValue))
                let other = try #require(["PUT", "PATCH", "DELETE", "POST", "GET"].first { !declared.contains($0) })
                let answer = try await Self.send(other, Self.concrete(path), token: Self.tokens[.admin], body: nil, port: port)
                #expect(answer.status == 405, "\(other) \(path): \(answer.status)")
                #expect(answer.headers["allow"] == declared.sorted().joined(separator: ", "), "\(other) \(path): \(answer.headers)")
            }
        }
    }

    @Test func declaredPathParametersAreThePathsOwn() {
        for route in Routes.all {
            let declared = route.operation.parameters.filter { $0.location == .path }.map(\.name)
            #expect(declared == route.pathParameters, "\(route.method) \(route.path) declares \(declared)")
        }
    }

    // MARK: - Calling a route

    /// A request the route's handler may answer without changing anything: path parameters name
    /// no session, and a body is not even JSON.
    static func call(_ route: Route, token: String?, port: Int) async throws -> Int {
        let body = route.operation.requestBody.map { (type: $0.content[0].mediaType, text: "not json") }
        return try await send(route.method.rawValue, concrete(route.path), token: token, body: body, port: port).status
    }

    static func concrete(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? "no-such-session" : String($0) }.joined(separator: "/")
    }

    /// The status and headers of the answer; only its start is read (an event stream goes on).
    static func send(_ method: String, _ path: String, token: String?, body: (type: String, text: String)?, port: Int) async throws -> (status: Int, headers: [String: String]) {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        if let body { request += "Content-Type: \(body.type)\r\nContent-Length: \(body.text.utf8.count)\r\n\r\n\(body.text)" } else { request += "\r\n" }
        connection.send(request)
        // Read without blocking: this corral answers from the same process, on the same threads.
        var received = ""
        _ = await ProcessProbe.waitUntil(timeout: .seconds(30), every: .milliseconds(10)) {
            received += await connection.read(timeout: .zero)
            return received.contains("\r\n\r\n") || connection.endSeen
        }
        let head = received.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        let status = head.first.flatMap { line in line.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
        let headers = Dictionary(
            head.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            },
            uniquingKeysWith: { first, _ in first }
        )
        return (try #require(status, "no answer to \(method) \(path): \(head)"), headers)
    }

    /// The document as served.
    static func document(_ client: TestCorral.Client) async throws -> JSONValue {
        try #require(JSONValue.parse(Array(try await client.request(.get, "/openapi.json").text.utf8)))
    }

    /// The statuses the document lists for the route's operation.
    static func statuses(_ document: JSONValue, _ route: Route) -> Set<Int> {
        guard case .object(let responses)? = document["paths"]?[route.path]?[route.method.rawValue.lowercased()]?["responses"] else { return [] }
        return Set(responses.keys.compactMap { Int($0) })
    }
}
