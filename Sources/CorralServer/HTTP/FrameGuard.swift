import Foundation
import HTTPTypes
import Hummingbird

/// Forbids every page to frame corral's answers: `X-Frame-Options: DENY`, and `frame-ancestors
/// 'none'` in `Content-Security-Policy` (merged into the policy an answer has, the dashboard's,
/// or a policy of its own). A framed dashboard shows its End buttons under another site's page,
/// where a click meant for that page ends a session; the buttons' requests are same-origin, so
/// `CrossOriginGuard` lets them through. Set on every answer the router gives (errors and unknown
/// paths included) and on those corral's request reception gives before it.
struct FrameGuard: RouterMiddleware {
    typealias Context = CorralRequestContext

    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let directive = "frame-ancestors 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        Self.apply(to: &response.headers)
        return response
    }

    static func apply(to headers: inout HTTPFields) {
        headers[xFrameOptions] = "DENY"
        let policies = headers[values: .contentSecurityPolicy]
        headers[values: .contentSecurityPolicy] = policies.isEmpty ? [directive] : policies.map(merged)
    }

    /// `policy` with `frame-ancestors 'none'` in place of any `frame-ancestors` it had.
    static func merged(_ policy: String) -> String {
        let directives = policy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { directive in
            !directive.isEmpty && directive.split(separator: " ").first?.lowercased() != "frame-ancestors"
        }
        return (directives + [directive]).joined(separator: "; ")
    }
}
