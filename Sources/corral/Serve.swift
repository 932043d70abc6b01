import ArgumentParser
import CorralCore
import CorralPlatform
import CorralSecurity
import CorralServer
import Foundation
import Logging
import CorralConfiguration

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API and supervise sessions.",
        discussion: """
            With no configuration, corral listens on 127.0.0.1:8080, keeps its state in ./corral-data \
            and offers a demo agent. Every key of the JSON configuration can be overridden by an \
            environment variable CORRAL_<KEY>, e.g. CORRAL_LISTEN=0.0.0.0:9000.

            Examples:
              corral serve
              corral serve --config /etc/corral.json
              CORRAL_GRACE_SECONDS=5 corral serve
            """
    )

    @OptionGroup var configurationFile: ConfigurationFileOption

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try configurationFile.load(environment: environment)
        if let refusal = ExposureCheck.refusal(configuration) {
            FileHandle.standardError.write(Data("corral: \(refusal)\n".utf8))
            throw ExitCode(2)
        }
        if let problem = ListenProbe.problem(host: configuration.listen.host, port: configuration.listen.port) {
            // Status 1, as every start-up failure of this host's (the data directory, the store):
            // 2 is for a configuration refused as it is written.
            FileHandle.standardError.write(Data("corral: listen: cannot listen on \(configuration.listen): \(problem)\n".utf8))
            throw ExitCode(1)
        }
        let level = configuration.logLevel
        let format = configuration.logFormat
        // Both escape control characters in what they log: a value from outside must not forge a line.
        LoggingSystem.bootstrap { label in
            if format == .json { return EscapingLogHandler(JSONLogHandler(label: label, level: level)) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return EscapingLogHandler(handler)
        }
        let logger = Logger(label: "corral")
        for (variable, meant) in MisspelledVariables.find(in: environment) {
            logger.warning("\(variable) is set, but corral reads no such variable; did you mean \(meant)?")
        }
        if ![.processGroup, .pidNamespace].contains(configuration.containment) { takeDelegatedCgroup(root: configuration.cgroupRoot, logger: logger) }
        let services: CorralServices
        do throws(CorralError) {
            services = try CorralApp.makeServices(configuration: configuration, logger: logger)
            try await services.cluster?.ensureStoreAdmitsThisNode()
            try await services.cluster?.ensureNodeIDIsFree()
        } catch {
            FileHandle.standardError.write(Data("corral: \(error.redacted(by: Redactor(patterns: configuration.redactPatterns)))\n".utf8))
            throw ExitCode(1)
        }
        logger.info(
            "corral starting",
            metadata: [
                "listen": "\(configuration.listen)", "data_dir": "\(configuration.dataDirectory)",
                "agents": "\(configuration.agents.keys.sorted().joined(separator: ","))",
            ]
        )
        if ExposureCheck.isExposed(configuration) {
            logger.warning(
                "serving without a token on a non-loopback address (allow_unauthenticated): whoever reaches it may start and end agents",
                metadata: ["listen": "\(configuration.listen)"]
            )
        }
        try await CorralApp.run(
            configuration: configuration, services: services, manager: ServiceManager(environment: environment), logger: logger
        )
        logger.info("corral stopped")
    }

    /// Under systemd with `Delegate=yes`: corral into its leaf, the controllers to the sessions,
    /// when they are below it (a `cgroup_root` elsewhere gets nothing from it).
    private func takeDelegatedCgroup(root: String?, logger: Logger) {
        let host = CgroupHost.discover()
        guard let delegation = CgroupDelegation.find(host: host), !delegation.isInLeaf(host: host) else { return }
        if let root, !delegation.contains(root) {
            logger.info("cgroup_root is outside the cgroup delegated to corral; corral stays where it is", metadata: ["cgroup_root": "\(root)"])
            return
        }
        do {
            let (enabled, refused) = try delegation.takeOver()
            logger.info(
                "moved into the leaf cgroup of the cgroup delegated to corral",
                metadata: ["cgroup": "\(delegation.supervisorDirectory)", "controllers": "\(enabled.sorted().joined(separator: ","))"]
            )
            for (controller, error) in refused.sorted(by: { $0.key < $1.key }) {
                logger.warning(
                    "cannot hand a controller down in the delegated cgroup (a process other than corral in it?); its limits fall back to what else the host offers",
                    metadata: ["controller": "\(controller)", "cgroup": "\(delegation.directory)", "error": "\(error)"]
                )
            }
        } catch {
            logger.warning("sessions' cgroups get no controllers from the delegated cgroup", metadata: ["error": "\(error)"])
        }
    }
}
