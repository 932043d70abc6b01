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
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") }
        merged.merge(environment) { $1 }
        let pid = try spawnChild(
            [executable] + arguments, environment: merged, workingDirectory: workingDirectory,
            output: .file(directory + "/out"), errors: .file(directory + "/err")
        )
        guard let exitStatus = await waitForChild(pid, timeout: timeout) else {
            kill(pid, SIGKILL)
            _ = waitForChild(pid)
            throw SystemErrorDescription("\(executable) \(arguments) did not finish in time")
        }
        return Result(
            status: exitStatus,
            output: (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "",
            errors: (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? ""
        )
    }
}

public struct SystemErrorDescription: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
