import Hummingbird

/// The HTTP API's table of routes, made from the route declarations as the OpenAPI document's
/// paths are (`Routes.all`: who may call each route, what it does, every status it may answer).
/// docs/http-api.md has this table: `scripts/update-reference` writes it there, and
/// HTTPAPIReferenceTests fails when the two differ.
enum RouteReference {
    /// The routes as a Markdown table: those under `/api` first, each list in declaration order.
    static var markdown: String {
        let api = Routes.all.filter { $0.path.hasPrefix("/api/") }
        let site = Routes.all.filter { !$0.path.hasPrefix("/api/") }
        let header = ["| route | who may call it | what it does | answers |", "|---|---|---|---|"]
        let lines = (api + site).map { route in
            "| `\(route.method.rawValue) \(route.path)` | \(caller(route.access)) | \(escaped(does(route))) | \(escaped(answers(route))) |"
        }
        return (header + lines).joined(separator: "\n")
    }

    static func caller(_ access: Route.Access) -> String {
        switch access {
        case .probe: "anyone"
        case .page: "anyone (without tokens, under corral's own names)"
        case .livekitSignature: "LiveKit (its signature)"
        case .caller(let role): "`\(role.rawValue)`"
        }
    }

    /// The summary, the description, and the query parameters with theirs.
    static func does(_ route: Route) -> String {
        let operation = route.operation
        var text = operation.summary + "."
        if let description = operation.description { text += " " + description }
        let query = operation.parameters.filter { $0.location == .query }.map { parameter in
            guard case .object(let json) = parameter.json, case .string(let description)? = json["description"] else { return "`\(parameter.name)`" }
            return "`\(parameter.name)` (\(description.hasSuffix(".") ? String(description.dropLast()) : description))"
        }
        if !query.isEmpty { text += " Query: " + query.joined(separator: ", ") + "." }
        return text
    }

    /// Each answer with a body of its own (status, description, what it holds), then every other
    /// status the route may answer, each with `{"error": …}`.
    static func answers(_ route: Route) -> String {
        let operation = route.operation
        let own = [operation.response] + operation.otherResponses
        let described = own.map { response in
            let kinds = response.content.map { content -> String in
                if case .object(let schema) = content.schema.json, case .string(let reference)? = schema["$ref"] {
                    return "`" + (reference.split(separator: "/").last.map(String.init) ?? reference) + "`"
                }
                return "`\(content.mediaType)`"
            }
            return "\(response.status.code) \(response.description) (\(kinds.joined(separator: ", ")))"
        }
        let others = route.statuses.filter { status in !own.contains { $0.status == status } }.map { String($0.code) }
        return described.joined(separator: "; ") + (others.isEmpty ? "" : "; also " + others.joined(separator: ", "))
    }

    /// A table cell's text: a `|` would end the cell.
    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }
}
