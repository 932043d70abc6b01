import Hummingbird

/// Every route corral serves, each declared once (`Route`). A new route is one more declaration
/// in one of these lists; its handler is a method of one of `RouteHandlers`' parts.
enum Routes {
    static let all: [Route] = site + livekit + sessions + streams + operators

    /// The methods declared for the path that `path` (a request's, without its query) falls on;
    /// empty if none. A request with another method gets 405 with these in `Allow`.
    static func methods(allowedOn path: String, in routes: [Route] = all) -> [String] {
        Set(routes.filter { $0.matches(path: path) }.map(\.method.rawValue)).sorted()
    }
}
