import CorralCore
import CorralPlatform
import Hummingbird

extension Route.Access {
    /// Answered, without tokens, only under corral's own names (`HostCheck`: 421).
    var checksHost: Bool {
        switch self {
        case .page, .caller: true
        case .probe, .livekitSignature: false
        }
    }

    /// Same-origin requests only (403), and a POST's body in one of the route's media types
    /// (`CrossOriginGuard`: 415).
    var checksOrigin: Bool {
        switch self {
        case .caller, .livekitSignature: true
        case .probe, .page: false
        }
    }
}

extension Route {
    /// Every status the route may answer: its success and its handler's own answers, and what its
    /// access, limit, parameters and body imply. The OpenAPI document lists exactly these.
    var statuses: [HTTPResponse.Status] {
        var statuses = Set([operation.response.status] + operation.otherResponses.map(\.status) + operation.errors)
        if access.checksHost { statuses.insert(.misdirectedRequest) }
        if access.checksOrigin {
            statuses.insert(.forbidden)
            if method == .post { statuses.insert(.unsupportedMediaType) }
        }
        switch access {
        case .caller: statuses.formUnion([.unauthorized, .forbidden])
        case .livekitSignature: statuses.insert(.unauthorized)
        case .probe, .page: break
        }
        for parameter in operation.parameters { statuses.formUnion(parameter.statuses) }
        // A body may not parse (400), be too large (413) or arrive too slowly (408). The HTTP
        // layer answers 408 and 431 (headers past the limits) before any route is known; they
        // are listed where a client is likeliest to meet them, with a body.
        if operation.requestBody != nil { statuses.formUnion([.badRequest, .requestTimeout, .contentTooLarge, .requestHeaderFieldsTooLarge]) }
        switch limit {
        case .none: break
        case .slot: statuses.insert(.serviceUnavailable)
        case .stream: statuses.formUnion([.serviceUnavailable, .tooManyRequests])
        }
        return statuses.sorted { $0.code < $1.code }
    }

    /// The route's operation object in the OpenAPI document.
    var openAPIOperation: JSONValue {
        var entry: [String: JSONValue] = ["summary": .string(operation.summary)]
        var description = operation.description.map { [$0] } ?? []
        if let role { description.append("Needs role \(role.rawValue).") }
        if !description.isEmpty { entry["description"] = .string(description.joined(separator: " ")) }
        // The document's default is the bearer token; the other routes take none.
        if role == nil { entry["security"] = .array([]) }
        let query = operation.parameters.filter { $0.location == .query }
        if !query.isEmpty { entry["parameters"] = .array(query.map(\.json)) }
        if let body = operation.requestBody {
            entry["requestBody"] = .object(["required": .bool(body.required), "content": Self.content(body.content)])
        }
        var responses: [String: JSONValue] = [:]
        let error = JSONValue.object(["$ref": .string("#/components/responses/Error")])
        for status in statuses { responses[String(status.code)] = error }
        for response in [operation.response] + operation.otherResponses {
            var object: [String: JSONValue] = ["description": .string(response.description), "content": Self.content(response.content)]
            if !response.headers.isEmpty {
                object["headers"] = .object(Dictionary(uniqueKeysWithValues: response.headers.map { ($0.name, .object(["schema": $0.schema.json])) }))
            }
            responses[String(response.status.code)] = .object(object)
        }
        entry["responses"] = .object(responses)
        return .object(entry)
    }

    private static func content(_ content: [(mediaType: String, schema: JSONSchema)]) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: content.map { ($0.mediaType, .object(["schema": $0.schema.json])) }))
    }
}
