import CorralCore
import CorralPlatform

/// A JSON Schema, written as the OpenAPI document has it.
struct JSONSchema: Sendable {
    let json: JSONValue

    /// One of the document's `components/schemas`.
    static func ref(_ name: String) -> JSONSchema {
        JSONSchema(json: .object(["$ref": .string("#/components/schemas/\(name)")]))
    }

    static let string = JSONSchema(json: .object(["type": .string("string")]))
    static let object = JSONSchema(json: .object(["type": .string("object")]))

    /// A schema written out as JSON text. The text is a constant of corral's own: a typo in it
    /// stops corral when it builds its router (and fails every test), never later.
    static func json(_ text: String) -> JSONSchema {
        guard let value = JSONValue.parse(Array(text.utf8)) else { preconditionFailure("not JSON: \(text)") }
        return JSONSchema(json: value)
    }
}
