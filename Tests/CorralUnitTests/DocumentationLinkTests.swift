import CorralTestSupport
import Foundation
import Testing

/// Every relative link in the documentation points at something: a file of the repository, and a
/// heading of it where the link names an anchor.
@Suite("Documentation links")
struct DocumentationLinkTests {
    /// The README, the pages in docs/, the benchmark's, the examples' and deploy/'s READMEs.
    static var pages: [String] {
        let files = FileManager.default.enumerator(atPath: GeneratedSection.repository.path)
        var pages = ["README.md", "bench/README.md"]
        while let file = files?.nextObject() as? String {
            if file.hasPrefix(".build") || file.hasPrefix(".git") {
                files?.skipDescendants()
                continue
            }
            let name = (file as NSString).lastPathComponent
            if file.hasPrefix("docs/") && name.hasSuffix(".md") && !file.dropFirst(5).contains("/") { pages.append(file) }
            if file.hasPrefix("examples/") && name == "README.md" { pages.append(file) }
            if file.hasPrefix("deploy/") && name.hasPrefix("README") { pages.append(file) }
        }
        return pages.sorted()
    }

    @Test func everyRelativeLinkPointsAtSomething() throws {
        let pages = Self.pages
        #expect(pages.contains("docs/configuration.md") && pages.contains("examples/livekit-worker/README.md"), "\(pages)")
        for path in pages {
            let page = try MarkdownPage(path: path)
            let problems = page.links.compactMap(page.problems(with:))
            #expect(problems.isEmpty, "\(path):\n\(problems.joined(separator: "\n"))")
        }
    }

    /// The check itself finds what is wrong: a missing file, a missing anchor here or there, a
    /// path out of the repository; and lets a right link, an anchor of a repeated heading, a
    /// link in code and a URL pass.
    @Test func theCheckFindsWhatPointsNowhere() throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory() + "corral-links-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("docs"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("# Other\n\n## Upgrade: detach, new binary, re-adopt\n\n## Twice\n\n## Twice\n".utf8).write(to: root.appendingPathComponent("docs/other.md"))
        let page = """
            # Page

            ## Checking a configuration: `corral check`

            [fine](docs/other.md#upgrade-detach-new-binary-re-adopt), [second](docs/other.md#twice-1), [here](#checking-a-configuration-corral-check)
            [gone](docs/missing.md), [no anchor](docs/other.md#nowhere), [not here](#nowhere), [out](../etc/passwd)
            ![picture](docs/missing.png) and `[code](nowhere.md)` and <https://example.com> and [web](https://example.com/x)

            ```sh
            [block](nowhere.md)
            ```
            """
        try Data(page.utf8).write(to: root.appendingPathComponent("README.md"))
        let checked = try MarkdownPage(path: "README.md", root: root)
        let problems = checked.links.compactMap(checked.problems(with:))
        #expect(
            problems == [
                "line 6: docs/missing.md: no file docs/missing.md",
                "line 6: docs/other.md#nowhere: docs/other.md has no heading with the anchor #nowhere",
                "line 6: #nowhere: no heading here has the anchor #nowhere",
                "line 6: ../etc/passwd: outside the repository",
                "line 7: docs/missing.png: no file docs/missing.png",
            ],
            "\(problems)"
        )
    }
}
