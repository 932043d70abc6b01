import CorralCore
@testable import CorralServer
import CorralPlatform
import CorralTestSupport
import Foundation
import HTTPTypes
import Testing
@testable import CorralConfiguration

/// Just enough JSON Schema (the subset the document uses) to check answers against it.
struct SchemaValidator {
    let document: JSONValue

    func resolve(_ schema: JSONValue) -> JSONValue {
        guard case .string(let reference)? = schema["$ref"] else { return schema }
        var node = document
        for part in reference.dropFirst(2).split(separator: "/") { node = node[String(part)] ?? .null }
        return resolve(node)
    }

    /// Problems found in `value`, as paths and messages.
    func problems(_ value: JSONValue, _ schema: JSONValue, at path: String = "$") -> [String] {
        let schema = resolve(schema)
        var types: [String] = []
        switch schema["type"] {
        case .string(let type)?: types = [type]
        case .array(let list)?: types = list.compactMap { if case .string(let type) = $0 { type } else { nil } }
        default: break
        }
        if !types.isEmpty && !types.contains(where: { Self.matches(value, $0) }) {
            return ["\(path): expected \(types), got \(value)"]
        }
        var problems: [String] = []
        if let constant = schema["const"], constant != value { problems.append("\(path): expected \(constant)") }
        if case .array(let allowed)? = schema["enum"], !allowed.contains(value) { problems.append("\(path): \(value) is not one of \(allowed)") }
        if case .object(let object) = value {
            if case .array(let required)? = schema["required"] {
                for case .string(let key) in required where object[key] == nil { problems.append("\(path).\(key): missing") }
            }
            for (key, child) in object {
                if let propertySchema = schema["properties"]?[key] {
                    problems += self.problems(child, propertySchema, at: "\(path).\(key)")
                } else if case .object? = schema["additionalProperties"], let additional = schema["additionalProperties"] {
                    problems += self.problems(child, additional, at: "\(path).\(key)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(path).\(key): not allowed")
                }
            }
        }
        if case .array(let array) = value, let items = schema["items"] {
            for (index, item) in array.enumerated() { problems += self.problems(item, items, at: "\(path)[\(index)]") }
        }
        return problems
    }

    static func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("string", .string), ("boolean", .bool), ("object", .object), ("array", .array), ("number", .number): true
        case ("integer", .number(let number)): number == number.rounded()
        default: false
        }
    }

    /// The schema of an operation's answer with `status`.
    func responseSchema(_ path: String, _ method: String, _ status: Int) -> JSONValue? {
        guard let response = document["paths"]?[path]?[method]?["responses"]?[String(status)] else { return nil }
        return resolve(response)["content"]?["application/json"]?["schema"]
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }
}

@Suite("The published API description")
struct OpenAPITests {
    @Test func documentAndRoutesAgree() async throws {
        try await TestCorral().run { client in
            let reply = try await client.request(.get, "/openapi.json")
            #expect(reply.status == .ok)
            let document = reply.json
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = document["paths"] as? [String: [String: Any]] ?? [:]
            let documented = Set(paths.flatMap { path, operations in
                operations.keys.filter { ["get", "post", "put", "delete", "patch"].contains($0) }.map { "\($0.uppercased()) \(path)" }
            })
            let declared = Set(Routes.all.map { "\($0.method.rawValue) \($0.path)" })
            #expect(declared.count == Routes.all.count, "a route is declared twice")
            #expect(declared.subtracting(documented).isEmpty, "declared but not documented: \(declared.subtracting(documented).sorted())")
            #expect(documented.subtracting(declared).isEmpty, "documented but not declared: \(documented.subtracting(declared).sorted())")
            // Every reference points at something in the document.
            let parsed = try #require(JSONValue.parse(Array(reply.text.utf8)))
            let validator = SchemaValidator(document: parsed)
            for reference in Self.references(in: parsed) {
                #expect(validator.resolve(.object(["$ref": .string(reference)])) != .null, "\(reference) points at nothing")
            }
            // And every documented operation reaches a handler, not the router's "no route".
            for route in documented.sorted() where !route.hasSuffix("/api/events") {
                let parts = route.split(separator: " ")
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                let answer = try await client.request(method, String(parts[1]).replacingOccurrences(of: "{id}", with: "no-such-session"))
                #expect(!answer.text.contains("no route"), "\(route): \(answer.text)")
            }
        }
    }

    /// A template, a forked session (`start: fork`, `pss_bytes`) and the inspection's memory, as
    /// documented.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func templateAnswersMatchTheSchemas() async throws {
        let corral = TestCorral(containment: .cgroup) { configuration in
            var profile = AgentProfile(command: ["/usr/bin/python3", TestAgents.path("template-agent.py")], readiness: .notify)
            profile.environment = configuration.agents["sleeper"]!.environment
            profile.template = TemplateSettings()
            configuration.agents["voice"] = profile
            configuration.startupTimeoutSeconds = 30
        }
        try await corral.run { client in
            let document = try #require(JSONValue.parse(Array(try await client.request(.get, "/openapi.json").text.utf8)))
            let validator = SchemaValidator(document: document)
            func check(_ path: String, _ method: String, _ reply: TestCorral.Client.Reply, sourceLocation: SourceLocation = #_sourceLocation) throws {
                let schema = try #require(validator.responseSchema(path, method, Int(reply.status.code)), sourceLocation: sourceLocation)
                let value = try #require(JSONValue.parse(Array(reply.text.utf8)), sourceLocation: sourceLocation)
                #expect(validator.problems(value, schema).isEmpty, "\(method) \(path): \(validator.problems(value, schema))", sourceLocation: sourceLocation)
            }
            try check("/api/templates", "get", try await client.request(.get, "/api/templates"))
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                (try await client.request(.get, "/api/templates").json["templates"] as? [[String: Any]])?.first?["state"] as? String == "ready"
            })
            try check("/api/templates", "get", try await client.request(.get, "/api/templates"))
            let started = try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "session_id": "spec-fork"}"#)
            try check("/api/sessions", "post", started)
            #expect(started.json["start"] as? String == "fork")
            let listed = try await client.request(.get, "/api/sessions?usage=true")
            try check("/api/sessions", "get", listed)
            #expect((listed.json["sessions"] as? [[String: Any]])?.first?["pss_bytes"] != nil, "\(listed.text)")
            try check("/api/debug/session/{id}/processes", "get", try await client.request(.get, "/api/debug/session/spec-fork/processes"))
            try check("/api/sessions/{id}", "delete", try await client.request(.delete, "/api/sessions/spec-fork"))
        }
    }

    static func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let object):
            var found = object.flatMap { key, child in key == "$ref" ? [] : references(in: child) }
            if case .string(let reference)? = object["$ref"] { found.append(reference) }
            return found
        case .array(let array): return array.flatMap(references(in:))
        default: return []
        }
    }

    @Test func answersMatchTheSchemas() async throws {
        try await TestCorral().run { client in
            let document = try #require(JSONValue.parse(Array(try await client.request(.get, "/openapi.json").text.utf8)))
            let validator = SchemaValidator(document: document)
            func check(_ path: String, _ method: String, _ reply: TestCorral.Client.Reply, sourceLocation: SourceLocation = #_sourceLocation) throws {
                let schema = try #require(validator.responseSchema(path, method, Int(reply.status.code)), "\(method) \(path) \(reply.status.code) is not documented", sourceLocation: sourceLocation)
                let value = try #require(JSONValue.parse(Array(reply.text.utf8)), sourceLocation: sourceLocation)
                let problems = validator.problems(value, schema)
                #expect(problems.isEmpty, "\(method) \(path) \(reply.status.code): \(problems)", sourceLocation: sourceLocation)
            }
            let started = try await client.request(.post, "/api/sessions", body: #"{"agent": "pipeline", "session_id": "spec-1", "metadata": {"room": "r"}}"#)
            try check("/api/sessions", "post", started)
            try check("/api/sessions", "get", try await client.request(.get, "/api/sessions"))
            try check("/api/sessions", "get", try await client.request(.get, "/api/sessions?usage=true"))
            try check("/api/sessions/{id}", "get", try await client.request(.get, "/api/sessions/spec-1"))
            try check("/api/debug/session/{id}/processes", "get", try await client.request(.get, "/api/debug/session/spec-1/processes"))
            try check("/api/sessions", "post", try await client.request(.post, "/api/sessions", body: #"{"session_id": "spec-1"}"#))
            try check("/api/sessions", "post", try await client.request(.post, "/api/sessions", body: #"{"bogus": 1}"#))
            try check("/api/sessions/{id}", "delete", try await client.request(.delete, "/api/sessions/spec-1"))
            try check("/api/sessions/{id}", "get", try await client.request(.get, "/api/sessions/spec-1"))
            try check("/healthz", "get", try await client.request(.get, "/healthz"))
            // What browsers from other origins get, as documented.
            try check("/api/sessions", "post", try await client.request(.post, "/api/sessions", body: "{}", headers: [.contentType: "text/plain"]))
            try check("/api/sessions", "get", try await client.request(.get, "/api/sessions", headers: [.origin: "http://evil.example"]))
            try check("/api/sessions/{id}", "delete", try await client.request(.delete, "/api/sessions/spec-1", headers: [.origin: "http://evil.example"]))
        }
    }
}
