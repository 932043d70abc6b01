import CleanSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program (the `corral` CLI) as a child of the test, in the test's own kernel session,
/// and collects its exit status and output. Waiting polls without holding a thread of the
/// test's concurrency pool.
public enum CommandRunner {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
        public let errors: String
    }

    /// - Parameter workingDirectory: where the program runs (the test's own working directory
    ///   without one).
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        let directory = NSTemporaryDirectory() + "corral-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/out", O_WRONLY | O_CREAT, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, directory + "/err", O_WRONLY | O_CREAT, 0o600)
        closeInheritedDescriptors(&actions)
        if let workingDirectory {
            guard let addChdir else { throw SystemErrorDescription("posix_spawn_file_actions_addchdir_np is not available (glibc 2.29+)") }
            let added = addChdir(&actions, workingDirectory)
            guard added == 0 else { throw SystemErrorDescription("posix_spawn_file_actions_addchdir_np \(workingDirectory): errno \(added)") }
        }
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") }
        merged.merge(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: Int32 = 0
        let spawned = withCleanSpawnAttributes { attributes in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
        guard spawned == 0 else { throw SystemErrorDescription("posix_spawn \(executable): errno \(spawned)") }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) != pid {
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                throw SystemErrorDescription("\(executable) \(arguments) did not finish in time")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(
            status: exitStatus,
            output: (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "",
            errors: (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? ""
        )
    }
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which the Glibc module does not
/// declare.
let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32).self)
}()

public struct SystemErrorDescription: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
