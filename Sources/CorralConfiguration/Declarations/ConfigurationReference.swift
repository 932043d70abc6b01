import CorralPlatform
import Foundation

/// The configuration's reference, made from the key declarations: the table of keys in
/// docs/configuration.md is this table. `scripts/update-reference` writes it there;
/// ConfigurationReferenceTests fails when the two differ. Meanings may link to the other pages
/// of `docs/` (`[security](security.md)`), where the table is.
package enum ConfigurationReference {
    /// One key: its path in the file (`agents.*.command`), its type, its default and its meaning.
    struct Row: Sendable, Equatable {
        let key: String
        let type: String
        let defaultValue: String
        let meaning: String

        /// The row of a key inside the value of another: `prefix` is that key, or what joins the
        /// two (`.` for an object's member, `.*` for a map's, `[]` for an array's).
        func nested(under prefix: String) -> Row {
            Row(key: prefix + key, type: type, defaultValue: defaultValue, meaning: meaning)
        }
    }

    /// The rows of an object's keys, each followed by the keys inside its value.
    static func rows<Root, Object>(_ object: ConfigurationObject<Root, Object>) -> [Row] {
        object.keys.flatMap { key in
            let meaning = key.aliases.isEmpty ? key.doc : key.doc + " (also " + key.aliases.map { "`\($0)`" }.joined(separator: ", ") + ")"
            let row = Row(
                key: key.name,
                type: key.type.summary + (key.acceptsNull && !key.required ? " or null" : ""),
                defaultValue: key.required ? "required" : key.showDefault(object.initial),
                meaning: meaning
            )
            return [row] + key.type.members.map { $0.nested(under: key.name) }
        }
    }

    /// The configuration's keys as a Markdown table.
    static var markdown: String {
        let header = ["| key | type | default | meaning |", "|---|---|---|---|"]
        let lines = rows(ConfigurationLoader.keys).map { row in
            "| `\(row.key)` | \(escaped(row.type)) | \(escaped(row.defaultValue)) | \(escaped(row.meaning)) |"
        }
        return (header + lines).joined(separator: "\n")
    }

    /// A string as JSON shows it.
    static func json(_ text: String) -> String { JSONText.string(text) }

    /// A number as JSON shows it: 14400, not 14400.0.
    package static func json(_ number: Double) -> String { JSONText.number(number) }

    /// `a`, `a or b`, `a, b or c`.
    static func either(_ choices: [String]) -> String {
        choices.count < 2 ? choices.joined() : choices.dropLast().joined(separator: ", ") + " or " + choices.last!
    }

    /// A table cell's text: a `|` would end the cell.
    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }
}
