import Foundation

/// A validated session id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`. Ids become file names, so
/// nothing else may get through (no "/", no leading ".").
public struct SessionID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let rawValue: String

    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard (1...128).contains(bytes.count), Self.isAlphanumeric(bytes[0]),
            bytes.dropFirst().allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { return nil }
        self.rawValue = text
    }

    /// `<prefix>_<unix-ms>_<9 random [a-z0-9]>` (prefix `session`, or `idle` for prewarmed agents).
    public static func generate(prefix: String = "session", now: Date = Date()) -> SessionID {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        let suffix = String((0..<9).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        return SessionID("\(prefix)_\(milliseconds)_\(suffix)")!
    }

    public static let rule = "1 to 128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"

    public var description: String { rawValue }

    public static func < (lhs: SessionID, rhs: SessionID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = SessionID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid session id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
    }
}

