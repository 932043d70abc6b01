import CorralCore
import CorralPlatform

/// The body of `POST /api/sessions`, checked field by field so that each mistake gets a message
/// naming the field.
enum StartSessionBody {
    static let fields = ["agent", "session_id", "metadata", "timeout_seconds", "livekit"]
    static let maxMetadataEntries = 64
    static let maxMetadataKeyLength = 128

    static func parse(_ bytes: [UInt8]) throws(APIError) -> StartRequest {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return StartRequest() }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw APIError(.badRequest, "the request body is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw APIError(.badRequest, "the request body must be a JSON object, got \(value.typeName)")
        }
        if let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first {
            throw APIError(.badRequest, "unknown field '\(unknown)'; expected any of: \(fields.joined(separator: ", "))")
        }
        var request = StartRequest()
        switch object["agent"] {
        case nil, .null?: break
        case .string(let agent)? where !agent.isEmpty: request.agent = agent
        case .string?: throw APIError(.badRequest, "agent: must not be empty (leave it out for the default agent)")
        case let other?: throw APIError(.badRequest, "agent: expected a non-empty string, got \(other.typeName)")
        }
        switch object["session_id"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let id = SessionID(text) else {
                throw APIError(.badRequest, "session_id: invalid id; \(SessionID.rule)")
            }
            request.sessionID = id
        case let other?: throw APIError(.badRequest, "session_id: expected a string, got \(other.typeName)")
        }
        switch object["metadata"] {
        case nil, .null?: break
        case .object(let entries)?:
            guard entries.count <= maxMetadataEntries else {
                throw APIError(.badRequest, "metadata: at most \(maxMetadataEntries) entries")
            }
            for (key, value) in entries {
                guard !key.isEmpty, key.utf8.count <= maxMetadataKeyLength else {
                    throw APIError(.badRequest, "metadata: keys must be 1 to \(maxMetadataKeyLength) bytes")
                }
                // A NUL would cut the C strings metadata reaches agents and tools through.
                guard !key.contains("\0") else { throw APIError(.badRequest, "metadata: keys must not contain NUL (\\u0000)") }
                guard case .string(let text) = value else {
                    throw APIError(.badRequest, "metadata.\(key): expected a string, got \(value.typeName)")
                }
                guard !text.contains("\0") else { throw APIError(.badRequest, "metadata.\(key): must not contain NUL (\\u0000)") }
                request.metadata[key] = text
            }
        case let other?: throw APIError(.badRequest, "metadata: expected an object of strings, got \(other.typeName)")
        }
        switch object["timeout_seconds"] {
        case nil, .null?: break
        case .number(let seconds)? where seconds.isFinite && seconds > 0: request.timeoutSeconds = seconds
        case .number?: throw APIError(.badRequest, "timeout_seconds: must be greater than 0")
        case let other?: throw APIError(.badRequest, "timeout_seconds: expected a number, got \(other.typeName)")
        }
        switch object["livekit"] {
        case nil, .null?: break
        case .object(let binding)?:
            if let unknown = binding.keys.filter({ !["room", "identity"].contains($0) }).sorted().first {
                throw APIError(.badRequest, "livekit.\(unknown): unknown field; expected room, identity")
            }
            guard case .string(let room)? = binding["room"], !room.isEmpty, room.utf8.count <= 256 else {
                throw APIError(.badRequest, "livekit.room: expected the room's name (1 to 256 bytes)")
            }
            // Names, shown in listings, logs and terminals: no control character.
            guard !Self.hasControlCharacter(room) else { throw APIError(.badRequest, "livekit.room: must not contain control characters") }
            request.livekitRoom = room
            switch binding["identity"] {
            case nil, .null?: break
            case .string(let identity)? where !identity.isEmpty && identity.utf8.count <= 256 && !Self.hasControlCharacter(identity):
                request.livekitIdentity = identity
            default: throw APIError(.badRequest, "livekit.identity: expected a string of 1 to 256 bytes, without control characters")
            }
        case let other?: throw APIError(.badRequest, "livekit: expected an object {room, identity?}, got \(other.typeName)")
        }
        return request
    }

    static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) }
    }
}
