/// The operator dashboard served at `/`: one self-contained page (no build step, no CDN, works
/// offline). It reads the same API as the CLI, follows `/api/events` to update live, and asks for
/// the API token once when the server wants one (kept in session storage).
///
/// Its page, style, script and operator sections are files in `Resources/`, embedded in the binary
/// when it is built and put together here once, so the page is still one answer with nothing to
/// fetch.
enum DashboardPage {
    static let html: String = {
        let page = String(decoding: PackageResources.dashboard_html, as: UTF8.self)
        return page
            .replacingOccurrences(of: "/* corral:style */", with: text(PackageResources.dashboard_css))
            .replacingOccurrences(of: "<!-- corral:operators -->", with: text(PackageResources.operators_html))
            .replacingOccurrences(of: "/* corral:script */", with: text(PackageResources.dashboard_js))
    }()

    /// A file's text without its last newline: the page's lines around each placeholder are its own.
    private static func text(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
