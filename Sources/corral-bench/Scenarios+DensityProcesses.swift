import CleanSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The processes of the density scenario: a side's process tree, its PSS, the jobs' helpers, and
/// LiveKit's worker started and ended.
extension Scenarios {
    /// `pid` and every process below it, by their parents in /proc.
    static func descendants(of pid: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(child)
        }
        var found = [pid]
        var index = 0
        while index < found.count {
            found += children[found[index]] ?? []
            index += 1
        }
        return found
    }

    /// The run's helpers still alive: `sleep` with the run's argument.
    static func densityHelpers(_ argument: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first?.hasSuffix("sleep") == true, arguments.dropFirst().first == argument else { return nil }
            let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
            return stat.contains(") Z ") ? nil : pid
        }
    }

    /// The sum of the processes' PSS (`Pss:` of smaps_rollup), in MB.
    static func pssMB(_ pids: [Int32]) -> Double {
        var kilobytes = 0
        for pid in pids {
            guard let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8),
                let line = rollup.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") })
            else { continue }
            kilobytes += Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return Double(kilobytes) / 1024
    }

    static func spawnWorker(python: String, agent: String, log: String, environment: [String: String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") && !$0.key.hasPrefix("LIVEKIT_") && $0.key != "NOTIFY_SOCKET" }
        let argv: [UnsafeMutablePointer<CChar>?] = [python, agent, "start"].map { (argument: String) in strdup(argument) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = inherited.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: Int32 = 0
        guard withCleanSpawnAttributes({ posix_spawn(&pid, python, &actions, &$0, argv, envp) }) == 0 else {
            throw BenchError("cannot start LiveKit's worker (\(agent) start)")
        }
        return pid
    }

    /// LiveKit's worker and everything below it: SIGTERM to the worker, then SIGKILL to whatever
    /// of its tree is left after 15 s; the worker is reaped.
    static func endTree(_ worker: Int32) {
        // The tree as last seen while the worker lived: once it is gone, its orphans no longer
        // hang below it.
        var tree = Set(descendants(of: worker))
        kill(worker, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(15)
        var status: Int32 = 0
        while ContinuousClock.now < deadline, waitpid(worker, &status, WNOHANG) == 0 {
            tree.formUnion(descendants(of: worker))
            usleep(50_000)
        }
        for pid in tree where pid != worker { kill(pid, SIGKILL) }
        kill(worker, SIGKILL)
        waitpid(worker, &status, 0)
    }
}
