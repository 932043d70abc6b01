import CCorralShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Empty log files made ahead of the starts that take them. Creating a file is most of what a
/// session's log costs a start (ext4 allocates an inode and journals it: about 0.2 ms on the
/// development host, spaced a start every 100 ms); renaming a file made earlier costs a third of
/// that. A start takes a spare and renames it to its session's log; spares are made again off
/// the start's path (`refill`). They are `.spare-N` files in the logs directory: a session id
/// begins with a letter or a digit and a session's log ends in `.log`, so no session's name and
/// no clean-up of old logs meets them. What an earlier corral left is removed at start.
final class LogSpares: Sendable {
    struct Spare: Sendable {
        let name: String
        let fd: Int32
    }

    private struct State {
        var spares: [Spare] = []
        /// Spares being made (counted, so that two refills do not both make the missing ones).
        var coming = 0
        var next = 0
    }

    /// Enough for starts spaced apart; a burst takes them all and creates the rest of its logs.
    static let count = 2
    static let prefix = ".spare-"

    private let directoryFD: Int32
    private let state = Mutex(State())

    /// `directoryFD` is the logs directory at `path`, kept open by the caller for as long as this.
    init(directoryFD: Int32, path: String) {
        self.directoryFD = directoryFD
        for name in DirectoryEntries.names(path) where name.hasPrefix(Self.prefix) {
            unlinkat(directoryFD, name, 0)
        }
    }

    /// Removes the spares; the owner of the directory's descriptor calls it before closing it.
    func discardAll() {
        for spare in state.withLock({ state in defer { state.spares = [] }; return state.spares }) { discard(spare) }
    }

    /// A spare to rename, if one is ready.
    func take() -> Spare? {
        state.withLock { $0.spares.popLast() }
    }

    /// Closes and removes a spare that could not be used.
    func discard(_ spare: Spare) {
        unlinkat(directoryFD, spare.name, 0)
        Glibc.close(spare.fd)
    }

    /// Makes spares until there are `count` (or a file cannot be created: starts then create
    /// their logs as before).
    func refill() {
        let names = state.withLock { state -> [String] in
            let missing = max(0, Self.count - state.spares.count - state.coming)
            state.coming += missing
            defer { state.next += missing }
            return (0..<missing).map { Self.prefix + String(state.next + $0) }
        }
        for name in names {
            let fd = DataDirectory.openNewLog(name, in: directoryFD)
            state.withLock { state in
                state.coming -= 1
                if fd >= 0 { state.spares.append(Spare(name: name, fd: fd)) }
            }
        }
    }
}
