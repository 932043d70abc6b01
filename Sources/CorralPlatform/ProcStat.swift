/// The fields corral uses from `/proc/PID/stat`.
public struct ProcStat: Sendable, Equatable {
    public let pid: Int32
    /// The command name (`comm`), at most 15 bytes, may contain spaces and parentheses.
    public let name: String
    public let state: Character
    public let ppid: Int32
    public let pgid: Int32
    public let sid: Int32
    /// Start time in clock ticks after boot (field 22): with the pid, it identifies a process
    /// across pid reuse.
    public let startTime: UInt64

    public var isZombie: Bool { state == "Z" || state == "X" }

    /// Parses the contents of a stat file. The name is delimited by the first "(" and the
    /// *last* ")", since the name itself may contain ")".
    public init?(parsing text: Substring) {
        self.init(parsing: Array(text.utf8))
    }

    /// Parses the bytes of a stat file, without building strings: reading the whole process
    /// table (every process's stat) is on the path of ending a process-group session.
    public init?(parsing bytes: [UInt8]) {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")), let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close,
            let parsedPID = Self.integer(bytes[..<open]), let pid = Int32(exactly: parsedPID), pid >= 0
        else { return nil }
        // Fields from 3 (state) to 22 (start time), separated by spaces.
        var fields: [ArraySlice<UInt8>] = []
        fields.reserveCapacity(20)
        var index = close + 1
        while index < bytes.count, fields.count < 20 {
            while index < bytes.count, Self.isSeparator(bytes[index]) { index += 1 }
            let start = index
            while index < bytes.count, !Self.isSeparator(bytes[index]) { index += 1 }
            if start < index { fields.append(bytes[start..<index]) }
        }
        guard fields.count == 20, let state = fields[0].first,
            let ppid = Self.integer(fields[1]), let pgid = Self.integer(fields[2]), let sid = Self.integer(fields[3]),
            let start = Self.integer(fields[19]), start >= 0,
            let ppid32 = Int32(exactly: ppid), let pgid32 = Int32(exactly: pgid), let sid32 = Int32(exactly: sid)
        else { return nil }
        self.pid = pid
        self.name = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        self.state = Character(Unicode.Scalar(state))
        self.ppid = ppid32
        self.pgid = pgid32
        self.sid = sid32
        self.startTime = UInt64(start)
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n")
    }

    /// A decimal integer, optionally negative, surrounded by nothing but spaces.
    private static func integer(_ digits: ArraySlice<UInt8>) -> Int64? {
        var digits = digits
        while digits.first == UInt8(ascii: " ") { digits = digits.dropFirst() }
        while digits.last == UInt8(ascii: " ") || digits.last == UInt8(ascii: "\n") { digits = digits.dropLast() }
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }
}
