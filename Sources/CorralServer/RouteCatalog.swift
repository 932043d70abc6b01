import Hummingbird
import Synchronization

/// Every route the server registers, as `METHOD /path/{param}`: routes are registered through it,
/// so the OpenAPI test compares the document with what really exists.
public final class RouteCatalog: Sendable {
    private let routes = Mutex<[String]>([])

    public init() {}

    public var all: [String] { routes.withLock { $0.sorted() } }

    /// The methods registered for the route pattern that `path` matches, if any.
    func methods(matching path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            routes.compactMap { route -> String? in
                let parts = route.split(separator: " ", maxSplits: 1)
                let pattern = parts[1].split(separator: "/", omittingEmptySubsequences: true)
                guard pattern.count == segments.count else { return nil }
                for (expected, given) in zip(pattern, segments) where !expected.hasPrefix("{") && expected != given {
                    return nil
                }
                return String(parts[0])
            }
        }
    }

    func record(_ method: HTTPRequest.Method, _ path: String) {
        let openAPIPath = "/" + path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        routes.withLock { $0.append("\(method.rawValue) \(openAPIPath)") }
    }
}

extension RouterMethods {
    /// Registers a route and records it in `catalog`. `fullPath` is the path from the root.
    @discardableResult
    func on(
        _ method: HTTPRequest.Method,
        _ path: String,
        fullPath: String,
        catalog: RouteCatalog,
        use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        catalog.record(method, fullPath)
        return on(RouterPath(path), method: method, use: handler)
    }
}
