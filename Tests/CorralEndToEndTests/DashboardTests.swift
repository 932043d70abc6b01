import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// Debian's chromium, which `.ci/run` installs.
let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("Dashboard")
struct DashboardTests {
    /// With a token (typed into the page), and without one on loopback: the page's requests are
    /// same-origin, so the checks against other origins let them through.
    @Test(.enabled(if: chromium != nil, "chromium is not installed (apt-get install chromium); the dashboard test is skipped"), arguments: ["dash-token", nil])
    func endsASessionThroughTheButton(token: String?) async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: token.map { ["api_token": $0] } ?? [:]) { bed in
            let corral = try await bed.startCorral()
            let authorized = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
            for id in ["call-a", "call-b"] {
                let reply = try await corral.request(.POST, "/api/sessions", body: #"{"session_id": "\#(id)", "agent": "cooperative"}"#, headers: authorized)
                #expect(reply.status == 201)
            }
            let page = try await corral.request(.GET, "/")
            #expect(page.status == 200)
            #expect(page.text.contains("<title>corral</title>"))
            #expect(!page.text.contains("http://") && !page.text.contains("https://"), "the page must not load anything from elsewhere")

            // The page asks for the token once: the check script types it into the form.
            let screenshot = bed.directory + "/dashboard.png"
            let result = try await CommandRunner.run(
                "/usr/bin/env",
                ["python3", TestAgents.directory + "/../dashboard_check.py", chromium!, "http://127.0.0.1:\(corral.port)/", "call-a,call-b", "call-a", screenshot],
                environment: token.map { ["DASHBOARD_TOKEN": $0] } ?? [:],
                timeout: .seconds(300)
            )
            #expect(result.status == 0, "\(result.output)\(result.errors)")
            #expect(try await corral.request(.GET, "/api/sessions/call-a", headers: authorized).status == 404)
            #expect(try await corral.request(.GET, "/api/sessions/call-b", headers: authorized).status == 200)
            let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
    }

    /// Issue 26: a page on another site showed the live dashboard in a frame, its End buttons
    /// under that page (their requests are same-origin, so a click there ends a session). In
    /// Chromium, a page served from another origin frames a control page (which shows, so the
    /// check sees framed documents) and the dashboard, which must not show.
    @Test(.enabled(if: chromium != nil, "chromium is not installed (apt-get install chromium); the framing test is skipped"))
    func aPageOnAnotherOriginCannotFrameTheDashboard() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"session_id": "framed-call", "agent": "cooperative"}"#)
            let result = try await CommandRunner.run(
                "/usr/bin/env",
                ["python3", TestAgents.directory + "/../framing_check.py", chromium!, "http://127.0.0.1:\(corral.port)/"],
                timeout: .seconds(300)
            )
            #expect(result.status == 0, "\(result.output)\(result.errors)")
            #expect(try await corral.request(.GET, "/api/sessions/framed-call").status == 200)
            #expect(try await corral.request(.DELETE, "/api/sessions/framed-call").status == 200)
        }
    }
}
