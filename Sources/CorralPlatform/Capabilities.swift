/// The capabilities corral holds (its effective set, `CapEff:` in `/proc/self/status`), for
/// deciding what it may do with namespaces rather than finding out by failing.
public struct Capabilities: Sendable, Equatable {
    public let effective: UInt64

    /// CAP_SETGID: map any group of corral's namespace into a user namespace.
    public static let setGID = 6
    /// CAP_SETUID: map any user of corral's namespace into a user namespace.
    public static let setUID = 7
    /// CAP_SYS_ADMIN: make a pid namespace without a user namespace.
    public static let sysAdmin = 21

    public init(effective: UInt64) {
        self.effective = effective
    }

    /// corral's own, read now; none if they cannot be read.
    public static func current() -> Capabilities {
        guard let bytes = ProcFS.readFile("/proc/self/status", limit: 16 * 1024) else { return Capabilities(effective: 0) }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("CapEff:".utf8)) {
            let value = String(decoding: line.dropFirst(7), as: UTF8.self).filter { !$0.isWhitespace }
            return Capabilities(effective: UInt64(value, radix: 16) ?? 0)
        }
        return Capabilities(effective: 0)
    }

    public func has(_ capability: Int) -> Bool {
        effective & (1 << UInt64(capability)) != 0
    }
}
