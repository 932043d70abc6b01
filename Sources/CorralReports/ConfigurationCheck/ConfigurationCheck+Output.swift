import CorralPlatform
import Foundation
import CorralConfiguration

extension ConfigurationCheck {
    /// The check as a JSON object: the plan's keys (where the configuration loaded), `config`,
    /// `strict`, and the `warnings` and `errors`, each `{"key", "message"}` (`key` absent where
    /// no single key is at fault). Keys are snake_case; a value that is not set is left out.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(Output(check: self))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The check for a terminal: what corral would do, then the warnings and errors, each naming
    /// its key, then the verdict.
    public var text: String {
        var lines = ["corral check: " + (file ?? "no configuration file (the embedded defaults)")]
        if let plan {
            lines.append("")
            lines += Self.lines(plan)
        }
        if !warnings.isEmpty || !errors.isEmpty { lines.append("") }
        lines += warnings.map { "warning: \($0)" }
        lines += errors.map { "error: \($0)" }
        lines.append("")
        lines.append(verdict)
        return lines.joined(separator: "\n")
    }

    /// One line on what the exit status says.
    public var verdict: String {
        switch exitStatus {
        case 0 where warnings.isEmpty: return "ok: the configuration is valid, and this host has what it names"
        case 0: return "ok: the configuration is valid; \(Self.count(warnings.count, "warning")) about this host (--strict makes them errors)"
        case 2: return "refused: corral serve would not start with this configuration"
        default: return "not ok: \(Self.count(errors.count, "error"))"
        }
    }

    private static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    private static func seconds(_ value: Double) -> String {
        ConfigurationReference.json(value) + " s"
    }

    private static func lines(_ plan: ConfigurationPlan) -> [String] {
        func row(_ name: String, _ value: String) -> String {
            name.padding(toLength: 13, withPad: " ", startingAt: 0) + value
        }
        let tokens = plan.authentication.tokens.map { "\($0.name) (\($0.role))" }
        var lines = [
            row("listen", "\(plan.listen) (\(plan.tls ? "https" : "http")), advertised as \(plan.advertiseURL), node \(plan.nodeID)"),
            row(
                "auth",
                "api_token \(plan.authentication.apiToken); tokens: \(tokens.isEmpty ? "none" : tokens.joined(separator: ", "))"
                    + (plan.authentication.allowUnauthenticated ? "; allow_unauthenticated" : "")
            ),
            row("store", storeText(plan.store)),
            row("data_dir", plan.dataDir),
            row("audit_log", plan.auditLog),
            row("containment", "\(plan.containment.mode) (containment \(plan.containment.configured)): \(plan.containment.detail)"),
            row("limits", CgroupHost.limitControllers.map { "\($0): \(plan.containment.limits[$0] ?? "?")" }.joined(separator: "; ")),
            row(
                "sessions",
                "default_agent \(plan.defaultAgent); max_sessions \(plan.maxSessions); timeout \(seconds(plan.sessionTimeoutSeconds)) "
                    + "(at most \(seconds(plan.maxSessionTimeoutSeconds))); grace \(seconds(plan.graceSeconds)); shutdown \(plan.shutdown)"
            ),
        ]
        if let livekit = plan.livekit {
            lines.append(
                row(
                    "livekit",
                    "\(livekit.url); api_key \(livekit.apiKey); api_secret \(livekit.apiSecret); webhooks to \(livekit.webhookURL)"
                        + (livekit.autoDispatchAgent.map { "; auto_dispatch_agent \($0)" } ?? "") + "; sessions_per_room \(livekit.sessionsPerRoom)"
                )
            )
        }
        if let events = plan.eventsWebhookURL { lines.append(row("events", "POSTed to \(events)")) }
        for agent in plan.agents {
            lines.append("")
            lines += agentLines(agent, isDefault: agent.name == plan.defaultAgent)
        }
        return lines
    }

    private static func storeText(_ store: ConfigurationPlan.Store) -> String {
        switch store.kind {
        case "sqlite": "sqlite \(store.path ?? "?")"
        case "redis":
            "redis \(store.address ?? "?"), database \(store.database ?? 0), password \(store.password ?? "not set"), "
                + "cluster secret \(store.clusterSecret ?? "not set") (not contacted)"
        default: store.kind
        }
    }

    private static func agentLines(_ agent: ConfigurationPlan.Agent, isDefault: Bool) -> [String] {
        func row(_ name: String, _ value: String) -> String {
            "  " + name.padding(toLength: 11, withPad: " ", startingAt: 0) + value
        }
        var runs = agent.executable ?? "\(agent.command[0]): NOT FOUND"
        if let env = agent.envProgram { runs += ", which runs " + (env.path ?? "\(env.name): NOT FOUND") }
        let limits = [
            agent.memoryLimitMB.map { "memory \($0) MB" }, agent.pidsLimit.map { "pids \($0)" },
            agent.cpuLimit.map { "cpu \(ConfigurationReference.json($0))" },
        ].compactMap { $0 }
        let waits = agent.ready == "notify" || agent.prewarm > 0
        var lines = [
            "agent \(agent.name)" + (isDefault ? " (default_agent)" : ""),
            row("command", agent.command.joined(separator: " ")),
            row("runs", runs),
            row("cwd", agent.cwd ?? "corral's working directory"),
            row("env", agent.environment.isEmpty ? "none added" : agent.environment.joined(separator: ", ")),
            row("ready", agent.ready + (waits ? ", READY=1 within startup_timeout_seconds (\(seconds(agent.startupTimeoutSeconds)))" : "")),
            row("limits", limits.isEmpty ? "none" : limits.joined(separator: ", ")),
            row("prewarm", agent.prewarm == 0 ? "none" : "\(agent.prewarm) idle agents" + (agent.template?.forked == true ? ", forked from the template" : "")),
        ]
        if let template = agent.template {
            let memory = template.memoryLimitMB.map { "memory \($0) MB" } ?? "no memory limit"
            lines.append(
                row(
                    "template",
                    (template.forked ? "sessions forked from a warm template" : "a template, but sessions start cold here (no cgroups)")
                        + " (\(memory); READY=1 within \(seconds(template.startupTimeoutSeconds)); a fork answered within "
                        + "\(seconds(template.forkTimeoutSeconds)); at most \(template.maxQueuedForks) waiting)"
                )
            )
        }
        if let uid = agent.uid { lines.append(row("user", "uid \(uid), gid \(agent.gid.map(String.init) ?? "?")")) }
        if agent.livekit { lines.append(row("livekit", "a LiveKit agent: sessions need a room")) }
        if let worker = agent.livekitWorker {
            let name = worker.agentName.isEmpty ? "automatic dispatch" : "agent_name '\(worker.agentName)'"
            lines.append(
                row(
                    "worker",
                    "\(name), \(worker.jobType) jobs, max_jobs \(worker.maxJobs), load \(worker.load) "
                        + "(full at \(ConfigurationReference.json(worker.loadThreshold))), registers with \(worker.url)"
                )
            )
        }
        return lines
    }
}

/// The JSON object: the plan's keys, then the check's own.
private struct Output: Encodable {
    let check: ConfigurationCheck

    private enum Keys: String, CodingKey {
        case config, strict, warnings, errors
    }

    func encode(to encoder: any Encoder) throws {
        try check.plan?.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(check.file, forKey: .config)
        try container.encode(check.strict, forKey: .strict)
        try container.encode(check.warnings, forKey: .warnings)
        try container.encode(check.errors, forKey: .errors)
    }
}
