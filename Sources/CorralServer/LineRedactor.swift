import CorralCore

/// Redacts a byte stream line by line: a secret split across two reads is held back until its
/// line is complete. Without a redactor (admins), bytes pass through as they are.
struct LineRedactor {
    let redactor: Redactor?
    private var pending: [UInt8] = []

    init(redactor: Redactor?) {
        self.redactor = redactor
    }

    /// The complete lines of what has arrived so far, redacted; a partial last line waits.
    mutating func complete(_ bytes: [UInt8]) -> [UInt8] {
        guard let redactor else { return bytes }
        pending += bytes
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        let lines = Array(pending[...lastNewline])
        pending.removeFirst(lastNewline + 1)
        return Self.redact(lines, redactor)
    }

    /// Whatever is left (the stream ended mid-line).
    mutating func flush() -> [UInt8] {
        guard let redactor, !pending.isEmpty else { return [] }
        defer { pending.removeAll() }
        return Self.redact(pending, redactor)
    }

    /// A whole text at once.
    func all(_ bytes: [UInt8]) -> [UInt8] {
        guard let redactor else { return bytes }
        return Self.redact(bytes, redactor)
    }

    private static func redact(_ bytes: [UInt8], _ redactor: Redactor) -> [UInt8] {
        Array(
            String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .map { redactor.text(String($0)) }.joined(separator: "\n").utf8
        )
    }
}
