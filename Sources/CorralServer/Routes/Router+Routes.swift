import Hummingbird

extension Router where Context == CorralRequestContext {
    /// Registers each route with the guards its declaration calls for in front of its handler.
    func register(_ routes: [Route], handlers: RouteHandlers, guards: RouteGuards) {
        for route in routes {
            let responder = guards.middlewares(for: route).reversed().reduce(route.handler(handlers)) { next, middleware in
                { @Sendable request, context in try await middleware.handle(request, context: context, next: next) }
            }
            on(RouterPath(route.routerPath), method: route.method, use: responder)
        }
    }
}
