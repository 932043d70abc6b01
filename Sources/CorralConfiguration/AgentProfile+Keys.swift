import CorralPlatform

extension AgentProfile {
    /// The keys of an agent profile (`agents.NAME`). Null is the same as leaving a key out.
    static let keys = ConfigurationObject<CorralConfiguration, AgentProfile>(
        AgentProfile(command: []),
        keys: [
            .key(
                "command", .array(of: .argument, "a non-empty array of strings"), \.command, required: true, orNull: true,
                check: { command in
                    if command.isEmpty { return "expected a non-empty array of strings (the argv, no shell)" }
                    return command[0].isEmpty ? "the program (command[0]) must not be empty" : nil
                },
                doc: "the argv, run directly (never through a shell); a bare name is looked up in `PATH`"
            ),
            .key(
                "env",
                .map(of: .argument, "an object of strings") { EnvironmentName.isValid($0) ? nil : "not a valid environment variable name" },
                \.environment, orNull: true,
                doc: "added to the agent's environment"
            ),
            .key("cwd", .path, \.workingDirectory, doc: "the agent's working directory (null: corral's)"),
            .key(
                "ready", .oneOf(), \.readiness, orNull: true,
                doc: "`exec`: running once spawned; `notify`: running once it sends `READY=1` to `$NOTIFY_SOCKET` (systemd's protocol; "
                    + "`STATUS=` and `WATCHDOG=1` are understood; the socket is `notify` in `data_dir`, mode 0666, bound again at each "
                    + "start at the same path; agents running as another `user` reach it through `data_dir` (0711) when they may search "
                    + "the directories above it, which `corral check` checks)"
            ),
            .key(
                "memory_limit_mb", .integer(minimum: 1, maximum: 999_999_999), \.memoryLimitMB,
                doc: "memory of the whole session (every process), not just the agent's"
            ),
            .key("pids_limit", .integer(minimum: 1, maximum: 999_999_999), \.pidsLimit, doc: "most processes the session may have"),
            .key(
                "cpu_limit", .number(minimum: 0.01, maximum: 4096), \.cpuLimit,
                doc: "CPU as a fraction of one core (`0.5`); needs a cpu controller"
            ),
            .key(
                "user", .account, set: { profile, name, context throws(CorralError) in
                    try requireRoot(context)
                    guard let account = Users.user(name) else { return try context.hostProblem("no user '\(name)'") }
                    profile.user = AgentUser(uid: account.uid, gid: account.gid, groups: Users.groups(of: account.name, gid: account.gid))
                },
                default: "corral's user", doc: "run the agent as this user (corral as root), with its groups"
            ),
            // After `user`: the group joins the user's groups, or is the only one (as root).
            .key(
                "group", .account, set: { profile, name, context throws(CorralError) in
                    try requireRoot(context)
                    guard let group = Users.group(name) else { return try context.hostProblem("no group '\(name)'") }
                    let user = profile.user
                    profile.user = AgentUser(uid: user?.uid ?? 0, gid: group, groups: user.map { Array(Set($0.groups + [group])) } ?? [group])
                },
                default: "the user's group", doc: "run the agent with this group (corral as root)"
            ),
            .key(
                "livekit", .boolean, \.livekit, orNull: true,
                doc: "a LiveKit agent: its sessions need a room, and it gets `LIVEKIT_URL`, `LIVEKIT_ROOM` and a `LIVEKIT_TOKEN` "
                    + "minted for it (see [LiveKit](livekit.md#webhooks))"
            ),
            .key(
                "livekit_worker", .object(LiveKitWorkerSettings.keys, "an object"), \.livekitWorker,
                doc: "register a LiveKit agent worker for the profile: jobs LiveKit dispatches to it run as its sessions "
                    + "(see [LiveKit](livekit.md#the-agent-worker))"
            ),
            .key(
                "prewarm", .integer(minimum: 0, maximum: 1000), \.prewarm, orNull: true,
                doc: "idle agents of the profile kept loaded and ready, to be handed sessions; they count toward `max_sessions` "
                    + "(see [prewarmed agents](prewarm.md))"
            ),
            .key(
                "template", .template, \.template, orNull: true,
                doc: "fork the profile's sessions from a warm template of it (one per node, loaded once) instead of starting each "
                    + "with `execve`; `true`, or an object of the template's settings; needs cgroups "
                    + "(see [templates](templates.md))"
            ),
        ]
    )

    /// `user` and `group` are resolved as they are read, so a typo stops start-up instead of
    /// failing a session; only root can run agents as someone else. Both are problems of the
    /// host, which `corral check` reads past.
    private static func requireRoot<Value>(_ context: ConfigurationContext<CorralConfiguration, Value>) throws(CorralError) {
        if !Users.isRoot { try context.hostProblem("running agents as another user needs corral to run as root") }
    }
}
