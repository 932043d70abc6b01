import Testing

@testable import CorralServer

/// The dashboard is put together from the files in Sources/CorralServer/Dashboard/Resources: one
/// page with its style, operator sections and script inline, nothing left to fetch.
@Suite("Dashboard page")
struct DashboardPageTests {
    @Test func thePageIsWholeAndSelfContained() {
        let page = DashboardPage.html
        #expect(!page.contains("corral:"), "a placeholder was not filled")
        #expect(page.hasPrefix("<!doctype html>") && page.hasSuffix("</html>\n"))
        #expect(page.contains("<style>\n:root {") && page.contains("</style>"))
        #expect(page.contains("id=\"operators\"") || page.contains("id=\"activity\""), "the operator sections are missing")
        #expect(page.contains("\"use strict\";") && page.contains("refreshOperators();\n"))
        #expect(!page.contains("<script src") && !page.contains("<link rel=\"stylesheet\""), "the page fetches something")
    }
}
