import Foundation

/// Values written as JSON writes them, for messages and references that quote a value.
package enum JSONText {
    /// A string in quotes, with its quotes and backslashes escaped.
    package static func string(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// A number as JSON shows it: 14400, not 14400.0.
    package static func number(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
