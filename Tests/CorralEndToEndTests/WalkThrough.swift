import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation

/// The README's walk-through, read as a reader reads it: its shell block, in paragraphs; each has
/// a command (after any comment that says what it does) and, in the comment lines below it, what
/// corral answers. An answer may leave things out:
/// - `…` stands for any text, any value, or (as an object's last member) any further members;
/// - a number from 4700 to 4799 stands for a pid: the same number stands for the same pid all
///   along the walk-through (the agent's pid in the start's answer, its processes and its log).
struct WalkThrough {
    struct Step {
        /// The command as written, continuation lines joined.
        let command: String
        /// The answer as shown, without the comment marks; empty if none is shown.
        let expected: String

        /// A step that only reads can be run again until corral's answer has caught up (the
        /// agent's helper started, its log written).
        var onlyReads: Bool { !command.contains("-X POST") && !command.contains("-X DELETE") }
    }

    let steps: [Step]

    /// The steps of the shell block in the page's section `section`.
    init(_ page: MarkdownPage, section: String = "Walk-through") throws {
        guard let block = page.codeBlocks.first(where: { $0.section == section && $0.language == "sh" }) else {
            throw SystemErrorDescription("\(page.path) has no sh block under \(section)")
        }
        var steps: [Step] = []
        for paragraph in block.text.components(separatedBy: "\n\n") {
            var command: [String] = []
            var expected: [String] = []
            for line in paragraph.split(separator: "\n") {
                if line.hasPrefix("#") {
                    // A comment before the command says what it does; after it, what corral answers.
                    if !command.isEmpty { expected.append(String(line.dropFirst(line.hasPrefix("# ") ? 2 : 1))) }
                } else {
                    command.append(line.trimmingCharacters(in: .whitespaces))
                }
            }
            guard !command.isEmpty else { continue }
            let joined = command.map { $0.hasSuffix("\\") ? String($0.dropLast()) : $0 }.joined(separator: " ")
            steps.append(Step(command: joined, expected: expected.joined(separator: "\n")))
        }
        self.steps = steps
    }

    /// Pids seen so far, by the number that stands for them.
    typealias Pids = [Int: Double]

    /// Whether `output` is what `expected` shows; `pids` learns the pids first seen here.
    static func matches(_ output: String, _ expected: String, pids: inout Pids) -> Bool {
        let trimmed = output.hasSuffix("\n") ? String(output.dropLast()) : output
        // An answer shown as JSON (a log line may start with `[` too: it is JSON if it parses).
        if expected.hasPrefix("{") || expected.hasPrefix("["), let shown = JSONValue.parse(Array(jsonText(expected).utf8)) {
            guard let answered = JSONValue.parse(Array(trimmed.utf8)) else { return false }
            return matches(answered, shown, pids: &pids)
        }
        return matchesText(trimmed, expected, pids: &pids)
    }

    static func matches(_ answered: JSONValue, _ shown: JSONValue, pids: inout Pids) -> Bool {
        switch (shown, answered) {
        case (.string("…"), _):
            return true
        case (.string(let pattern), .string(let text)) where pattern.contains("…"):
            return text.range(of: "^" + pattern.components(separatedBy: "…").map(NSRegularExpression.escapedPattern(for:)).joined(separator: ".*") + "$", options: .regularExpression) != nil
        case (.number(let number), .number(let value)) where isPid(number):
            if let pid = pids[Int(number)] { return pid == value }
            guard !pids.values.contains(value) else { return false }
            pids[Int(number)] = value
            return true
        case (.object(let shownMembers), .object(let members)):
            let open = shownMembers["…"] != nil
            let keys = Set(shownMembers.keys).subtracting(["…"])
            guard open ? keys.isSubset(of: members.keys) : keys == Set(members.keys) else { return false }
            return keys.allSatisfy { matches(members[$0]!, shownMembers[$0]!, pids: &pids) }
        case (.array(let shownItems), .array(let items)):
            return shownItems.count == items.count && zip(items, shownItems).allSatisfy { matches($0, $1, pids: &pids) }
        default:
            return shown == answered
        }
    }

    /// Text, line for line: `…` is any text, a pid's stand-in the pid.
    static func matchesText(_ output: String, _ expected: String, pids: inout Pids) -> Bool {
        var pattern = "^"
        var captured: [Int] = []
        var rest = Substring(expected)
        while let next = rest.firstIndex(where: { $0 == "…" || $0.isNumber }) {
            pattern += NSRegularExpression.escapedPattern(for: String(rest[..<next]))
            rest = rest[next...]
            if rest.first == "…" {
                pattern += ".*"
                rest = rest.dropFirst()
                continue
            }
            let digits = rest.prefix(while: \.isNumber)
            rest = rest.dropFirst(digits.count)
            guard let number = Double(digits), isPid(number) else {
                pattern += NSRegularExpression.escapedPattern(for: String(digits))
                continue
            }
            if let pid = pids[Int(number)] {
                pattern += String(Int(pid))
            } else if let earlier = captured.firstIndex(of: Int(number)) {
                pattern += "\\\(earlier + 1)"
            } else {
                pattern += "([0-9]+)"
                captured.append(Int(number))
            }
        }
        pattern += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
        guard let expression = try? NSRegularExpression(pattern: pattern),
            let match = expression.firstMatch(in: output, range: NSRange(output.startIndex..., in: output)),
            match.range.length == (output as NSString).length
        else { return false }
        for (index, number) in captured.enumerated() {
            guard let range = Range(match.range(at: index + 1), in: output), let value = Double(output[range]) else { return false }
            if pids.values.contains(value) { return false }
            pids[number] = value
        }
        return true
    }

    static func isPid(_ number: Double) -> Bool { (4700..<4800).contains(number) && number == number.rounded() }

    /// The shown answer as JSON: each `…` outside a string becomes one (a member `"…": "…"` where
    /// it stands for further members).
    static func jsonText(_ shown: String) -> String {
        var text = ""
        var inString = false
        var escaped = false
        for character in shown {
            if inString {
                text.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true; text.append(character)
            case "…":
                let before = text.last { !$0.isWhitespace }
                text += before == "," || before == "{" ? #""…": "…""# : #""…""#
            default: text.append(character)
            }
        }
        return text
    }
}
