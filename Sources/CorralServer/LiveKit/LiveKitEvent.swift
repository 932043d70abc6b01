import CorralCore
import CorralPlatform
import Foundation

/// The parts of a LiveKit webhook event corral acts on. LiveKit sends protobuf JSON: `createdAt`
/// is an int64 of seconds, written as a string (a number is accepted too).
struct LiveKitEvent: Sendable {
    let kind: String
    /// The same for every delivery of one event (LiveKit sends each event to every node).
    let id: String?
    let createdAt: Date?
    let room: String?
    let participantIdentity: String?

    init?(_ bytes: [UInt8]) {
        guard case .object(let event)? = JSONValue.parse(bytes), case .string(let kind)? = event["event"] else { return nil }
        self.kind = kind
        if case .string(let id)? = event["id"], !id.isEmpty { self.id = id } else { id = nil }
        switch event["createdAt"] {
        case .string(let text)?: createdAt = Double(text).map { Date(timeIntervalSince1970: $0) }
        case .number(let seconds)?: createdAt = Date(timeIntervalSince1970: seconds)
        default: createdAt = nil
        }
        room = Self.string(event["room"], "name")
        participantIdentity = Self.string(event["participant"], "identity")
    }

    private static func string(_ value: JSONValue?, _ key: String) -> String? {
        guard case .object(let object)? = value, case .string(let text)? = object[key] else { return nil }
        return text
    }
}
