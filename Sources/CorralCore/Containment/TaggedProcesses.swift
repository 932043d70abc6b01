import CorralPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Processes found by the tags corral puts in every agent's environment
/// (`CORRAL_INSTANCE_ID`, `CORRAL_SESSION_ID`): how corral recognises its own processes after a
/// crash, and never another corral's.
enum TaggedProcesses {
    struct Tagged {
        let pid: Int32
        let sessionID: String
    }

    /// The session id `pid` carries if it is a process of this corral instance.
    static func session(of pid: Int32, instanceID: String) -> String? {
        guard ProcFS.environmentValue(pid, "CORRAL_INSTANCE_ID") == instanceID else { return nil }
        return ProcFS.environmentValue(pid, "CORRAL_SESSION_ID")
    }

    /// Live processes of this corral instance whose session id satisfies `matches`.
    static func find(instanceID: String, where matches: (String) -> Bool) -> [Tagged] {
        let own = Syscall.currentPID
        return ProcFS.allPIDs().compactMap { pid in
            guard pid != own, let session = session(of: pid, instanceID: instanceID), matches(session) else { return nil }
            return Tagged(pid: pid, sessionID: session)
        }
    }

    /// SIGKILLs each such process through a pidfd opened before checking its tags again, so a
    /// recycled pid is never hit. Returns what was killed.
    @discardableResult
    static func kill(instanceID: String, where matches: (String) -> Bool) -> [Tagged] {
        kill(find(instanceID: instanceID, where: matches), instanceID: instanceID)
    }

    /// SIGKILLs each of `found` still carrying the same tags, through a pidfd opened before
    /// checking them again. Returns what was killed.
    static func kill(_ found: [Tagged], instanceID: String) -> [Tagged] {
        found.filter { tagged in
            guard let pidFD = try? PidFD.open(pid: tagged.pid) else { return false }
            defer { pidFD.close() }
            guard session(of: tagged.pid, instanceID: instanceID) == tagged.sessionID else { return false }
            return (try? pidFD.signal(SIGKILL)) == true
        }
    }
}
