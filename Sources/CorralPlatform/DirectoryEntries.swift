#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The entries of a directory (`.` and `..` left out), read with `readdir` straight from the
/// kernel's listing: Foundation's `contentsOfDirectory` costs an allocation per name more, and
/// `/proc` and cgroup trees are read on every end and every scan.
package enum DirectoryEntries {
    package struct Entry: Sendable {
        package let name: String
        /// As `readdir` says (`DT_DIR`); false where the file system does not say.
        package let isDirectory: Bool
    }

    /// The entries of `path`; empty if it cannot be read.
    package static func read(_ path: String) -> [Entry] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var entries: [Entry] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            entries.append(Entry(name: name, isDirectory: entry.pointee.d_type == UInt8(DT_DIR)))
        }
        return entries
    }

    /// The names in `path`.
    package static func names(_ path: String) -> [String] {
        read(path).map(\.name)
    }
}
