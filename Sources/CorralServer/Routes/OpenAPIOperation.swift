import CorralCore
import CorralPlatform
import Hummingbird

/// A route's entry in the OpenAPI document: what only the route itself can say. The statuses its
/// access, limit, parameters and body imply are added when the document is written
/// (`Route.statuses`).
struct OpenAPIOperation: Sendable {
    var summary: String
    var description: String?
    var parameters: [Parameter] = []
    var requestBody: RequestBody?
    /// The answer when it goes well.
    var response: ResponseEntry
    /// Other answers with a body of their own (not `{"error": …}`).
    var otherResponses: [ResponseEntry] = []
    /// Refusals only this route's handler gives (an unknown agent, an id in use), each answered
    /// as `{"error": …}`.
    var errors: [HTTPResponse.Status] = []

    /// A path or query parameter, and the statuses a bad (or unknown) value is answered with.
    struct Parameter: Sendable {
        enum Location: String, Sendable {
            case path, query
        }

        let name: String
        let location: Location
        /// The parameter object, or a `$ref` to one in `components/parameters`.
        let json: JSONValue
        let statuses: [HTTPResponse.Status]

        /// A session id in the path: 400 if it is not one, 404 if no such session.
        static let sessionID = Parameter(
            name: "id", location: .path, json: .object(["$ref": .string("#/components/parameters/SessionID")]),
            statuses: [.badRequest, .notFound]
        )

        /// A query parameter; a value outside `schema` is answered 400.
        static func query(_ name: String, schema: JSONSchema, description: String? = nil) -> Parameter {
            var json: [String: JSONValue] = ["name": .string(name), "in": .string("query"), "required": .bool(false), "schema": schema.json]
            if let description { json["description"] = .string(description) }
            return Parameter(name: name, location: .query, json: .object(json), statuses: [.badRequest])
        }

        /// A yes-or-no query parameter, as `StreamingRoutes.flag` reads it.
        static func flag(_ name: String, description: String? = nil) -> Parameter {
            query(name, schema: .json(#"{"type": "string", "enum": ["", "true", "false", "1", "0", "yes", "no"]}"#), description: description)
        }
    }

    /// A request body: its media types (the only ones `CrossOriginGuard` lets through, 415
    /// otherwise) and their schemas.
    struct RequestBody: Sendable {
        var required: Bool
        var content: [(mediaType: String, schema: JSONSchema)]

        var mediaTypes: Set<String> { Set(content.map(\.mediaType)) }
    }

    struct ResponseEntry: Sendable {
        var status: HTTPResponse.Status = .ok
        var description: String
        var content: [(mediaType: String, schema: JSONSchema)]
        /// Response headers worth naming, with their schemas.
        var headers: [(name: String, schema: JSONSchema)] = []
    }
}
