import Logging
import ServiceLifecycle

/// Runs a service in a group of its own whose graceful shutdown may take at most `limit`; then it
/// is cancelled. For the HTTP server, which waits for every response to end: a followed log or
/// an event stream whose client stopped reading cannot be written to its end, and must not keep
/// corral from exiting. By the time the server stops, the supervisor has (the streams have
/// ended for every client that still reads).
struct BoundedShutdown: Service {
    let service: any Service
    let limit: Duration
    let logger: Logger

    func run() async throws {
        var configuration = ServiceGroupConfiguration(services: [.init(service: service)], logger: logger)
        configuration.maximumGracefulShutdownDuration = limit
        try await ServiceGroup(configuration: configuration).run()
    }
}
