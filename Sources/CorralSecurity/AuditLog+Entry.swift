import Foundation
import CorralPlatform

extension AuditLog {
    /// One line of the audit log. Every field is bounded, whatever a caller sent: a session id
    /// (it comes from the request's path, where anything may stand) is cut at `longestSession`
    /// bytes, with its whole length in `session_length`; the other fields at `longestField`.
    public struct Entry: Sendable, Encodable {
        /// The longest session id corral accepts: a longer one is no session's.
        public static let longestSession = 128
        public static let longestField = 256

        public let time: String
        public let who: String
        public let role: String?
        public let action: String
        public let session: String?
        /// The length in bytes of a session id that was cut.
        public let sessionLength: Int?
        public let address: String?
        public let result: Int
        /// Summed-up lines: how many this line stands for, and when the first of them was.
        public let count: Int?
        public let since: String?

        /// The session as a summary keeps it.
        var bounded: BoundedSession? { session.map { BoundedSession(text: $0, length: sessionLength) } }

        private enum CodingKeys: String, CodingKey {
            case time, who, role, action, session, sessionLength = "session_length", address, result, count, since
        }

        public init(who: String, role: Role?, action: String, session: String?, address: String?, result: Int) {
            self.init(time: Date(), who: who, role: role, action: action, session: session.map(BoundedSession.init), address: address, result: result)
        }

        init(
            time: Date, who: String, role: Role?, action: String, session: BoundedSession?, address: String?, result: Int,
            count: Int? = nil, since: Date? = nil
        ) {
            self.time = Self.format(time)
            self.who = Self.cut(who, to: Self.longestField)
            self.role = role?.rawValue
            self.action = Self.cut(action, to: Self.longestField)
            self.session = session?.text
            sessionLength = session?.length
            self.address = address.map { Self.cut($0, to: Self.longestField) }
            self.result = result
            self.count = count
            self.since = since.map(Self.format)
        }

        private static func format(_ date: Date) -> String {
            RFC3339.string(date)
        }

        /// At most `bytes` bytes of `text`, never splitting a character.
        static func cut(_ text: String, to bytes: Int) -> String {
            guard text.utf8.count > bytes else { return text }
            var end = text.startIndex
            var used = 0
            for index in text.unicodeScalars.indices {
                let size = text.unicodeScalars[index].utf8.count
                guard used + size <= bytes else { break }
                used += size
                end = text.unicodeScalars.index(after: index)
            }
            return String(text.unicodeScalars[..<end])
        }
    }

    /// A session id as a line carries it: cut at `Entry.longestSession` bytes, its length kept
    /// when it was cut. What is held for a summed-up line too, so a flood of long ids costs no
    /// more memory than short ones.
    struct BoundedSession: Sendable, Hashable {
        let text: String
        /// Nil unless the id was cut.
        let length: Int?

        init(text: String, length: Int?) {
            self.text = text
            self.length = length
        }

        init(_ id: String) {
            let length = id.utf8.count
            text = Entry.cut(id, to: Entry.longestSession)
            self.length = length > Entry.longestSession ? length : nil
        }
    }
}
