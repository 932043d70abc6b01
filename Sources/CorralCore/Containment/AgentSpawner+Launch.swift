import CorralPlatform
import Foundation

extension SpawnRequest {
    package init(_ launch: AgentLaunch, cgroupFD: Int32?, placeBeforeExec: ((Int32) throws(CorralError) -> Void)? = nil) {
        self.init(
            executable: launch.executable,
            arguments: launch.arguments,
            environment: launch.environment,
            workingDirectory: launch.workingDirectory,
            outputFD: launch.outputFD,
            cgroupFD: cgroupFD,
            placeBeforeExec: placeBeforeExec,
            user: launch.user,
            inheritedFD: launch.assignFD.map { ($0, AgentLaunch.assignTargetFD) }
        )
    }
}

extension AgentSpawner.Failure {
    /// What the API reports when an agent could not be started.
    func asCorralError(_ launch: AgentLaunch) -> CorralError {
        switch self {
        case .childFailed(.exec, let cause):
            if cause.errno == ENOENT, let interpreter = ScriptInterpreter(ofScript: launch.executable) {
                CorralError(
                    .spawnFailed, "could not execute \(launch.executable): the interpreter its #! line names, \(interpreter.path), was not found",
                    underlying: cause
                )
            } else {
                CorralError(.spawnFailed, "could not execute \(launch.executable)", underlying: cause)
            }
        case .childFailed(.chdir, let cause):
            CorralError(.spawnFailed, "could not enter the working directory \(launch.workingDirectory ?? "")", underlying: cause)
        case .childFailed(_, let cause), .cgroupRefused(let cause), .system(let cause):
            CorralError(.spawnFailed, "could not start the agent", underlying: cause)
        case .placementFailed(let cause):
            cause
        }
    }
}
