#if canImport(Glibc)
import Glibc
#endif

/// Where a child's standard output or standard error goes. Its standard input is always
/// `/dev/null`.
public enum ChildOutput: Sendable {
    /// `/dev/null`.
    case discarded
    /// A file, created if missing (mode 0600), emptied first unless `append`.
    case file(String, append: Bool = false)
    /// Standard error only: the same file as standard output.
    case standardOutput
    /// This process's own.
    case inherited
}

/// Why a child could not be started: the program and the errno of `posix_spawn` or of one of
/// its file actions.
public struct SpawnFailure: Error, CustomStringConvertible {
    public let program: String
    public let errno: Int32
    public let step: String

    public var description: String {
        "cannot start \(program): \(step): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Starts `arguments[0]` (a path) with `arguments` as its argv, as a child of this process with a
/// clean signal state (see `withCleanSpawnAttributes`), its standard input on `/dev/null`, and
/// none of this process's descriptors above 2 but the one it is passed: SwiftNIO opens its
/// sockets without close-on-exec, and a child holding a copy keeps a connection or a listening
/// port open after its owner closed it. Returns its pid; the caller reaps it (`stopChild`,
/// `waitForChild`).
///
/// - Parameters:
///   - environment: exactly the child's environment; nil: this process's own.
///   - workingDirectory: where it runs; nil: this process's working directory.
///   - newSession: in a kernel session (and process group) of its own (`setsid`).
///   - passing: a descriptor of this process the child gets as its descriptor 3.
public func spawnChild(
    _ arguments: [String],
    environment: [String: String]? = nil,
    workingDirectory: String? = nil,
    output: ChildOutput = .discarded,
    errors: ChildOutput = .discarded,
    newSession: Bool = false,
    passing descriptor: Int32? = nil
) throws(SpawnFailure) -> Int32 {
    precondition(!arguments.isEmpty, "spawnChild needs at least the program's path")
    let program = arguments[0]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    for (descriptor, place) in [(Int32(1), output), (Int32(2), errors)] {
        switch place {
        case .discarded: posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
        case .file(let path, let append):
            posix_spawn_file_actions_addopen(&actions, descriptor, path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o600)
        case .standardOutput: posix_spawn_file_actions_adddup2(&actions, 1, descriptor)
        case .inherited: break
        }
    }
    // A descriptor dup2'ed onto itself loses its close-on-exec flag (glibc 2.29+).
    if let descriptor { posix_spawn_file_actions_adddup2(&actions, descriptor, 3) }
    // glibc 2.34+; without it the child keeps this process's descriptors.
    _ = addCloseFrom?(&actions, descriptor == nil ? 3 : 4)
    if let workingDirectory {
        guard let addChdir else { throw SpawnFailure(program: program, errno: ENOSYS, step: "posix_spawn_file_actions_addchdir_np (glibc 2.29+)") }
        let added = addChdir(&actions, workingDirectory)
        guard added == 0 else { throw SpawnFailure(program: program, errno: added, step: "working directory \(workingDirectory)") }
    }
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { (argv + (envp ?? [])).forEach { free($0) } }
    var pid: Int32 = 0
    let result = withCleanSpawnAttributes(setsid: newSession) { attributes in
        if let envp { posix_spawn(&pid, program, &actions, &attributes, argv, envp) } else { posix_spawn(&pid, program, &actions, &attributes, argv, environ) }
    }
    guard result == 0 else { throw SpawnFailure(program: program, errno: result, step: "posix_spawn") }
    return pid
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+) and `…_addclosefrom_np` (2.34+), which
/// the Glibc module does not declare.
private let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32).self)
}()

private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()
