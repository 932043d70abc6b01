@testable import CorralCore
import CorralPlatform
import CorralTestSupport

extension Containment {
    /// Starts `sh -c script` as session `id`'s agent (its processes carry `CORRAL_SESSION_ID`),
    /// on a thread of its own as corral's spawner threads do, without watching its leader.
    func launchShell(_ script: String, id: String, output: Int32, monitor: ProcessMonitor) async throws -> any ContainedTree {
        let launch = AgentLaunch(
            sessionID: SessionID(id)!, executable: "/bin/sh", arguments: ["sh", "-c", script],
            environment: ["PATH=/usr/bin:/bin", "CORRAL_SESSION_ID=\(id)"], outputFD: output, limits: ResourceLimits()
        )
        return try await OwnThread.run { () throws -> any ContainedTree in
            try self.launch(launch, monitor: monitor) { _ throws(CorralError) in }
        }
    }
}
