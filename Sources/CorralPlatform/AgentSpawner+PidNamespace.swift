import CCorralShims

/// How a session's pid namespace is made (`corral_spawn_in_pid_namespace`).
package struct PidNamespaceSetup: Sendable {
    /// The user namespace around it and its maps; nil for a pid namespace alone (corral has
    /// CAP_SYS_ADMIN).
    package var userNamespace: UserNamespaceMap?
    /// The init's whole environment: corral's tags, by which the init is known as the session's.
    package var initEnvironment: [String] = []
    /// How long the init gives what is left once the agent has exited by itself.
    package var grace: Duration = .zero

    package init(userNamespace: UserNamespaceMap? = nil, initEnvironment: [String] = [], grace: Duration = .zero) {
        self.userNamespace = userNamespace
        self.initEnvironment = initEnvironment
        self.grace = grace
    }
}

extension AgentSpawner {
    /// Starts the agent under an init that is PID 1 of a new pid namespace; the process returned
    /// is the init, corral's child, leader of a session of its own.
    package static func spawnInPidNamespace(_ request: SpawnRequest, setup: PidNamespaceSetup) throws(Failure) -> SpawnedProcess {
        var result = corral_spawn_result()
        let initEnvironment = CStringArray(setup.initEnvironment)
        let graceMS = UInt32(clamping: setup.grace.components.seconds * 1000 + setup.grace.components.attoseconds / 1_000_000_000_000_000)
        let code = try withSpec(request) { spec in
            withNamespaceRequest(setup.userNamespace, initEnvironment: initEnvironment, graceMS: graceMS) { namespace in
                corral_spawn_in_pid_namespace(&spec, &namespace, &result)
            }
        }
        return try spawned(result, code: code, request: request)
    }

    /// Whether such a namespace can be made here: nil, or why not.
    package static func probePidNamespace(userNamespace: UserNamespaceMap?) -> SystemError? {
        var step = SpawnStep.clone
        let code = withNamespaceRequest(userNamespace, initEnvironment: CStringArray([]), graceMS: 0) { namespace in
            corral_probe_pid_namespace(&namespace, &step)
        }
        guard code != 0 else { return nil }
        switch step {
        case .userNamespace:
            return SystemError("writing a user namespace's maps (\(userNamespace?.summary ?? ""))", errno: code)
        default:
            return SystemError(userNamespace == nil ? "clone(CLONE_NEWPID)" : "clone(CLONE_NEWUSER | CLONE_NEWPID)", errno: code)
        }
    }

    private static func withNamespaceRequest(
        _ map: UserNamespaceMap?,
        initEnvironment: CStringArray,
        graceMS: UInt32,
        _ body: (inout corral_namespace_request) -> Int32
    ) -> Int32 {
        withOptionalCString(map?.uidMapText) { uidMap in
            withOptionalCString(map?.gidMapText) { gidMap in
                var namespace = corral_namespace_request(
                    new_user_namespace: map == nil ? 0 : 1,
                    uid_map: uidMap,
                    gid_map: gidMap,
                    deny_setgroups: map?.deniesSetgroups == true ? 1 : 0,
                    init_envp: initEnvironment.pointer,
                    grace_ms: graceMS
                )
                return body(&namespace)
            }
        }
    }
}
