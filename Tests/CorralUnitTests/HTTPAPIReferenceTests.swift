@testable import CorralServer
import CorralTestSupport
import Foundation
import Testing

/// docs/http-api.md's table of routes is the one `RouteReference` makes from the route
/// declarations (`scripts/update-reference` writes it), as `/openapi.json`'s paths are.
/// Serialized: run by scripts/update-reference, the first test writes the table the second reads.
@Suite("HTTP API reference", .serialized)
struct HTTPAPIReferenceTests {
    static let table = GeneratedSection(
        page: "docs/http-api.md",
        begin: "<!-- routes: made from the route declarations by scripts/update-reference; HTTPAPIReferenceTests checks them -->",
        end: "<!-- end of routes -->"
    )

    @Test func theTableIsTheDeclarations() throws {
        let made = RouteReference.markdown
        let written = try Self.table.settle(made)
        #expect(written == made, "\(Self.table.mismatch(made))")
    }

    /// Each declared route is a row, with the role it needs and every status it may answer.
    @Test func everyRouteIsARowWithItsRoleAndStatuses() throws {
        let rows = try Self.table.current().split(separator: "\n").filter { $0.hasPrefix("| `") }
        #expect(rows.count == Routes.all.count)
        for route in Routes.all {
            let row = rows.first { $0.hasPrefix("| `\(route.method.rawValue) \(route.path)` |") }
            guard let row else {
                Issue.record("\(route.method) \(route.path) is not in docs/http-api.md's table")
                continue
            }
            if let role = route.role { #expect(row.contains("| `\(role.rawValue)` |"), "\(row)") }
            for status in route.statuses { #expect(row.contains(String(status.code)), "\(route.path): \(status.code) missing in \(row)") }
        }
    }
}
