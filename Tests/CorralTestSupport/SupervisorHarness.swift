import CorralCore
import CorralPlatform
import Foundation
import Logging
import CorralConfiguration
import CorralStore

/// A real `Supervisor` over a store and a containment the test chooses (process groups by
/// default, or a `FakeContainment` that starts no process), without the HTTP server: for the
/// paths only a store that fails on demand reaches.
/// Its agents carry a tag of their own; whatever still carries it at the end is killed by pid
/// and reported.
public struct SupervisorHarness: Sendable {
    public let tag = "harness-\(UUID().uuidString)"
    public let configuration: CorralConfiguration

    public init(configure: (inout CorralConfiguration) -> Void = { _ in }) {
        var configuration = CorralConfiguration.forTest(tag: tag, prefix: "corral-harness-", defaultAgent: "sleeper", startupTimeoutSeconds: 5)
        configure(&configuration)
        self.configuration = configuration
    }

    /// Runs `body` with a started supervisor over `store`, then stops it (ending every session)
    /// and returns what the test left running (killed by now), which should be nothing.
    public func run(
        store: any SessionStore,
        containment: any Containment = ProcessGroupContainment(),
        _ body: @Sendable (Supervisor) async throws -> Void
    ) async throws -> [Int32] {
        var logger = Logger(label: "corral-harness")
        logger.logLevel = ProcessInfo.processInfo.environment["CORRAL_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let supervisor = Supervisor(
            configuration: configuration,
            dataDirectory: try DataDirectory(path: configuration.dataDirectory),
            store: store,
            containment: containment,
            logger: logger
        )
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        let service = Task { try await supervisor.run() }
        var failure: (any Error)?
        do {
            try await supervisor.prepare()
            try await body(supervisor)
        } catch {
            failure = error
        }
        service.cancel()
        _ = try? await service.value
        let leftovers = await ProcessProbe.processes(withEnvironment: "CORRAL_TEST_RUN", value: tag)
        ProcessProbe.kill(leftovers)
        if let failure { throw failure }
        return leftovers
    }
}
