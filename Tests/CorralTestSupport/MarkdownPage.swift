import Foundation

/// A Markdown page of the repository, read as GitHub renders it as far as the tests need: its
/// headings' anchors, its links, and its fenced code blocks (with the section they are in).
public struct MarkdownPage: Sendable {
    /// The page's path, relative to `root`.
    public let path: String
    public let root: URL
    public let text: String

    public struct Link: Sendable, CustomStringConvertible {
        public let target: String
        public let line: Int
        public var description: String { "line \(line): \(target)" }
    }

    public struct CodeBlock: Sendable {
        /// What follows the opening fence: `sh`, `json`, or nothing.
        public let language: String
        public let text: String
        /// The nearest heading above the block, without its `#`s.
        public let section: String
    }

    public init(path: String, root: URL = GeneratedSection.repository) throws {
        self.path = path
        self.root = root
        text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    public var url: URL { root.appendingPathComponent(path) }

    /// The lines outside fenced code blocks, numbered from 1.
    var prose: [(number: Int, line: Substring)] {
        var fenced = false
        var lines: [(Int, Substring)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                fenced.toggle()
                continue
            }
            if !fenced { lines.append((index + 1, line)) }
        }
        return lines
    }

    /// The anchors GitHub gives the page's headings (`#` to `######`), a repeated one with `-1`,
    /// `-2`… after it, and those of `<a name="…">` or `id="…"`.
    public var anchors: Set<String> {
        var seen: [String: Int] = [:]
        var anchors = Set<String>()
        for (_, line) in prose {
            if let heading = Self.heading(line) {
                let slug = Self.slug(heading)
                let count = seen[slug, default: 0]
                seen[slug] = count + 1
                anchors.insert(count == 0 ? slug : "\(slug)-\(count)")
            }
            for match in Self.matches(#"(?:name|id)="([^"]+)""#, in: String(line)) { anchors.insert(match) }
        }
        return anchors
    }

    /// Every link and image outside code: inline `[text](target)`, reference definitions
    /// `[name]: target`, and HTML `href`/`src`.
    public var links: [Link] {
        prose.flatMap { number, line -> [Link] in
            let text = Self.withoutCodeSpans(String(line))
            let inline = Self.matches(#"\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#, in: text)
            let definitions = Self.matches(#"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"#, in: text)
            let html = Self.matches(#"(?:href|src)="([^"]+)""#, in: text)
            return (inline + definitions + html).map { Link(target: $0, line: number) }
        }
    }

    /// The fenced code blocks, in order.
    public var codeBlocks: [CodeBlock] {
        var blocks: [CodeBlock] = []
        var section = ""
        var open: (language: String, lines: [Substring])?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var block = open {
                if trimmed.hasPrefix("```") {
                    blocks.append(CodeBlock(language: block.language, text: block.lines.joined(separator: "\n"), section: section))
                    open = nil
                } else {
                    block.lines.append(line)
                    open = block
                }
            } else if trimmed.hasPrefix("```") {
                open = (String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces), [])
            } else if let heading = Self.heading(line) {
                section = heading
            }
        }
        return blocks
    }

    /// Where a link points that nothing is at, with why; empty if it points somewhere (or off
    /// the repository: another scheme, another host).
    public func problems(with link: Link) -> String? {
        let target = link.target
        if target.contains("://") || target.hasPrefix("mailto:") || target.hasPrefix("//") { return nil }
        let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let file = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let anchor = parts.count > 1 ? String(parts[1]) : nil
        if file.isEmpty {
            guard let anchor else { return nil }
            return anchors.contains(anchor) ? nil : "\(link): no heading here has the anchor #\(anchor)"
        }
        // The target's path from the repository's root, `..` resolved.
        var components: [Substring] = []
        for part in ((path as NSString).deletingLastPathComponent + "/" + file).split(separator: "/") where part != "." {
            if part != ".." {
                components.append(part)
            } else if components.popLast() == nil {
                return "\(link): outside the repository"
            }
        }
        let relative = components.joined(separator: "/")
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(relative).path) else {
            return "\(link): no file \(relative)"
        }
        guard let anchor, relative.hasSuffix(".md") else { return nil }
        guard let other = try? MarkdownPage(path: relative, root: root) else { return "\(link): \(relative) cannot be read" }
        return other.anchors.contains(anchor) ? nil : "\(link): \(relative) has no heading with the anchor #\(anchor)"
    }

    /// A heading's text, without its `#`s, or nil if the line is not a heading.
    static func heading(_ line: Substring) -> String? {
        let hashes = line.prefix(while: { $0 == "#" })
        guard (1...6).contains(hashes.count), line.dropFirst(hashes.count).first == " " else { return nil }
        var text = line.dropFirst(hashes.count).trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("#") { text = String(text.dropLast()).trimmingCharacters(in: .whitespaces) }
        return text
    }

    /// GitHub's anchor for a heading: its text as shown (code spans' text, links' text, no HTML),
    /// lower-cased, without punctuation but `-` and `_`, each space a `-`.
    public static func slug(_ heading: String) -> String {
        var shown = heading.replacingOccurrences(of: #"<[^>]+>"#, with: "", options: .regularExpression)
        shown = shown.replacingOccurrences(of: #"\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
        return String(
            shown.lowercased().unicodeScalars.compactMap { scalar -> Character? in
                if scalar == " " { return "-" }
                if scalar == "-" || scalar == "_" || CharacterSet.alphanumerics.contains(scalar) { return Character(scalar) }
                return nil
            }
        )
    }

    /// The text with every code span's content blanked out, so nothing in it reads as a link.
    static func withoutCodeSpans(_ text: String) -> String {
        text.replacingOccurrences(of: #"(`+)(?:(?!\1).)+?\1"#, with: "``", options: .regularExpression)
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return expression.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
