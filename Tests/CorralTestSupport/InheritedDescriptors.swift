import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Adds to `actions` the closing of every descriptor above 2, so that a process a test starts
/// (a test server, corral, a command) holds none of the test process's own. SwiftNIO opens its
/// sockets without close-on-exec: a child holding a copy of one keeps a connection open after
/// the test closed it, or a port listening after the test stopped listening. Without glibc's
/// `posix_spawn_file_actions_addclosefrom_np` (2.34+) nothing is added.
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    _ = addCloseFrom?(&actions, 3)
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np`, looked up as `addchdir_np` is.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()
