/// A value of the Redis serialization protocol (RESP2).
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// nil is RESP's null bulk string.
    case bulkString([UInt8]?)
    /// nil is RESP's null array.
    case array([RESPValue]?)

    /// The value as text, for bulk and simple strings and integers.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .integer(let number): String(number)
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let number): number
        case .bulkString(let bytes?): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }
}
