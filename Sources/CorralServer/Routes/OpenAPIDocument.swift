import CorralCore
import CorralPlatform
import Foundation

/// The OpenAPI 3.1 description of the whole HTTP API, served at `/openapi.json`: its `paths`
/// are written from the route declarations (`Routes.all`), each operation with every status its
/// declaration implies; the rest (the description, the shared schemas) is written out here and in
/// `OpenAPIDocument+Components.swift`.
enum OpenAPIDocument {
    static let json: String = render(Routes.all)

    static func render(_ routes: [Route]) -> String {
        let document = JSONValue.object([
            "openapi": .string("3.1.0"),
            "info": parse(info),
            "security": .array([.object(["bearer": .array([])])]),
            "paths": paths(routes),
            "components": parse(components),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        guard let data = try? encoder.encode(document) else { preconditionFailure("the OpenAPI document cannot be encoded") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Each route's path with its operations; a path's parameters are said once, for all of them.
    static func paths(_ routes: [Route]) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for route in routes {
            var item = paths[route.path, default: [:]]
            let parameters = route.operation.parameters.filter { $0.location == .path }
            if !parameters.isEmpty { item["parameters"] = .array(parameters.map(\.json)) }
            item[route.method.rawValue.lowercased()] = route.openAPIOperation
            paths[route.path] = item
        }
        return .object(paths.mapValues { .object($0) })
    }

    /// Text of corral's own: a mistake in it stops corral when it builds its router (and fails
    /// every test), never later.
    private static func parse(_ text: String) -> JSONValue {
        guard let value = JSONValue.parse(Array(text.utf8)) else { preconditionFailure("OpenAPI document: not JSON: \(text.prefix(200))") }
        return value
    }

    private static let info = #"""
        {
          "title": "corral",
          "version": "1.0.0",
          "description": "Supervises voice-agent sessions: one agent process tree per session, ended completely. All /api routes need `Authorization: Bearer <token>` when tokens are configured; roles: read (list, inspect, logs, events), operate (also start and end), admin (also unredacted command lines and environments). Without any token every caller has the operate role, and every route but /healthz, /readyz and the LiveKit webhook answers 421 to a Host that is not one of corral's own names (loopback, listen, advertise_url, allowed_hosts). On /api routes, a browser request from another origin (Origin other than the request's own scheme://Host, or Sec-Fetch-Site: cross-site) gets 403, and a POST body must be sent as application/json, uncompressed (415). Any request gets 408 if it does not arrive in full within request_timeout_seconds, and 431 if its headers are over the limits (100 fields, 16 KiB each, 32 KiB in all). Every answer carries X-Frame-Options: DENY and a Content-Security-Policy with frame-ancestors 'none': no page may frame corral's pages."
        }
        """#
}
