import Foundation

/// Human-readable figures for the CLI's tables.
enum Formatting {
    static func age(since date: Date, now: Date = Date()) -> String {
        duration(max(0, Int(now.timeIntervalSince(date))))
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s" }
        return "\(seconds / 3600)h\(String(format: "%02d", seconds % 3600 / 60))m"
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func date(_ text: String?) -> Date? {
        guard let text else { return nil }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// `text` with every character that could move the cursor, start an escape sequence, end a
    /// line or turn text around shown as an escape (`\x1b`, `\u{202e}`): a process names itself
    /// (`exec -a`), and that name must not reach the operator's terminal as a command or as a
    /// line of its own.
    /// With `keepingLines`, line feeds and tabs pass (a log's lines stay lines).
    static func printable(_ text: String, keepingLines: Bool = false) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A where keepingLines, 0x09 where keepingLines:
                shown.unicodeScalars.append(scalar)
            case 0x00..<0x20, 0x7F, 0x80..<0xA0:
                shown += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            case 0x5C:
                // Doubled, so that a name holding `\x1b` as text reads apart from an escaped one.
                shown += "\\\\"
            case 0x061C, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                shown += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }

    /// How many of `bytes` end with a whole UTF-8 character: the rest may be completed by what
    /// comes next.
    static func wholeCharacters(_ bytes: [UInt8]) -> Int {
        var start = bytes.count
        // The last character's first byte: at most 3 continuation bytes back.
        while start > 0, bytes.count - start < 3, bytes[start - 1] & 0xC0 == 0x80 { start -= 1 }
        guard start > 0 else { return bytes.count }
        let lead = bytes[start - 1]
        let length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        return bytes.count - (start - 1) >= length ? bytes.count : start - 1
    }

    /// Columns padded to their widest cell.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
