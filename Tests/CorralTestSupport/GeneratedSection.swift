import Foundation

/// A part of a documentation page that is made from the code (the table of configuration keys,
/// the table of routes), between a line that begins it and a line that ends it. A test compares
/// it with what the code makes; run with `CORRAL_UPDATE_REFERENCE=1` (`scripts/update-reference`
/// does), the test writes what the code makes there instead, so nobody copies a table out of a
/// test's failure.
public struct GeneratedSection: Sendable {
    /// The page, relative to the repository: `docs/configuration.md`.
    public let page: String
    /// The whole line before the generated text, and the whole line after it.
    public let begin: String
    public let end: String

    public init(page: String, begin: String, end: String) {
        self.page = page
        self.begin = begin
        self.end = end
    }

    /// The repository's root.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Whether this run writes the generated parts rather than checking them.
    public static var updating: Bool { ProcessInfo.processInfo.environment["CORRAL_UPDATE_REFERENCE"] == "1" }

    public var url: URL { Self.repository.appendingPathComponent(page) }

    /// The text between the two lines, without the newline before `end`.
    public func current() throws -> String {
        let text = try String(contentsOf: url, encoding: .utf8)
        let range = try bounds(in: text)
        return String(text[range])
    }

    /// What the page holds between the lines once `made` has been written there, if this run
    /// writes; what it held before, if it checks. The caller expects it to be `made`.
    public func settle(_ made: String) throws -> String {
        guard Self.updating else { return try current() }
        var text = try String(contentsOf: url, encoding: .utf8)
        text.replaceSubrange(try bounds(in: text), with: made)
        try Data(text.utf8).write(to: url)
        return try current()
    }

    /// What a failure says: where, what to run, and what the code makes.
    public func mismatch(_ made: String) -> String {
        "\(page) differs from the code between `\(begin)` and `\(end)`: run scripts/update-reference. It should read:\n\(made)"
    }

    private func bounds(in text: String) throws -> Range<String.Index> {
        guard let opening = text.range(of: begin + "\n") else {
            throw SystemErrorDescription("\(page) has no line `\(begin)`")
        }
        guard let closing = text[opening.upperBound...].range(of: "\n" + end + "\n") else {
            throw SystemErrorDescription("\(page) has no line `\(end)` after `\(begin)`, or nothing between them")
        }
        return opening.upperBound..<closing.lowerBound
    }
}
