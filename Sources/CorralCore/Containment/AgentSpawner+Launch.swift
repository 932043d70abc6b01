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
            if cause.errno == ENOENT, let interpreter = Self.interpreter(of: launch.executable) {
                CorralError(
                    .spawnFailed, "could not execute \(launch.executable): the interpreter its #! line names, \(interpreter), was not found",
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

    /// The interpreter a script's `#!` line names, where the script is there (execve's ENOENT then
    /// means the interpreter is missing, not the script).
    private static func interpreter(of path: String) -> String? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        guard let head = try? file.read(upToCount: 256), head.starts(with: Array("#!".utf8)) else { return nil }
        let line = head.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }
        return String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
    }
}
