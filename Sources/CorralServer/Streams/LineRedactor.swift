import CorralCore
import CorralSecurity

/// Redacts a byte stream line by line: a secret split across two reads is held back until its
/// line is complete. Without a redactor (admins), bytes pass through as they are.
struct LineRedactor {
    let redactor: Redactor?
    private var pending: [UInt8] = []
    /// Dropping bytes up to the first line start: the stream began mid-line, where the rest of a
    /// secret could stand without the name that marks it. A carriage return ends that line too:
    /// output that only ever returns the carriage (a progress bar) has no other line end, and
    /// was left out whole.
    private var skippingPartialLine: Bool

    init(redactor: Redactor?, startsMidLine: Bool = false) {
        self.redactor = redactor
        skippingPartialLine = startsMidLine && redactor != nil
    }

    /// The longest partial line held back for its end. Past it, what came of the line is redacted
    /// and sent, and its rest is left out (it would start where a secret's name may not be), so
    /// an agent writing without newlines cannot make a reader's stream hold all it writes.
    static let longestLine = 1 << 20

    /// The complete lines of what has arrived so far (up to the last line end, a carriage return
    /// too: a progress bar is shown as it goes), redacted; a partial last line waits.
    mutating func complete(_ bytes: [UInt8]) -> [UInt8] {
        guard let redactor else { return bytes }
        pending += bytes
        dropPartialFirstLine()
        var output: [UInt8] = []
        if let lastEnd = pending.lastIndex(where: Self.endsLine) {
            output = Self.redact(Array(pending[...lastEnd]), redactor)
            pending.removeFirst(lastEnd + 1)
        }
        if pending.count > Self.longestLine {
            output += Self.redact(pending, redactor) + [UInt8(ascii: "\n")]
            pending.removeAll()
            skippingPartialLine = true
        }
        return output
    }

    /// The log was rotated: the line being read was cut there, and the rest of it (if it was
    /// not moved aside whole) starts the new log, without the name that may mark a secret in it.
    /// What came of that line is redacted and sent on a line of its own; with `startsMidLine`, the
    /// new log's first partial line is left out.
    mutating func rotated(startsMidLine: Bool) -> [UInt8] {
        guard let redactor else { return [] }
        defer {
            pending.removeAll()
            skippingPartialLine = startsMidLine
        }
        guard !pending.isEmpty, !skippingPartialLine else { return [] }
        return Self.redact(pending, redactor) + [UInt8(ascii: "\n")]
    }

    /// Whatever is left (the stream ended mid-line).
    mutating func flush() -> [UInt8] {
        guard let redactor, !pending.isEmpty, !skippingPartialLine else { return [] }
        defer { pending.removeAll() }
        return Self.redact(pending, redactor)
    }

    /// A whole text at once.
    func all(_ bytes: [UInt8]) -> [UInt8] {
        guard let redactor else { return bytes }
        guard skippingPartialLine else { return Self.redact(bytes, redactor) }
        guard let end = bytes.firstIndex(where: Self.endsLine) else { return [] }
        return Self.redact(Array(bytes[(end + 1)...]), redactor)
    }

    private mutating func dropPartialFirstLine() {
        guard skippingPartialLine else { return }
        guard let end = pending.firstIndex(where: Self.endsLine) else {
            pending.removeAll()
            return
        }
        pending.removeFirst(end + 1)
        skippingPartialLine = false
    }

    /// A carriage return ends a line for the stream's cuts: a secret's value holds none.
    private static func endsLine(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    /// Line by line; a line with nothing to redact is sent as it was written, bytes that are not
    /// UTF-8 and all (decoded, they came out as U+FFFD to all but admins: `corral logs --raw` is
    /// the bytes as written).
    private static func redact(_ bytes: [UInt8], _ redactor: Redactor) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if index > 0 { output.append(UInt8(ascii: "\n")) }
            let text = String(decoding: line, as: UTF8.self)
            let redacted = redactor.text(text)
            if redacted == text { output += line } else { output += redacted.utf8 }
        }
        return output
    }
}
