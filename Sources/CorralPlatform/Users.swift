#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Users and groups by name or number, for profiles that run their agent as another user.
package enum Users {
    package struct Account {
        package let uid: UInt32
        package let gid: UInt32
        package let name: String
    }

    /// A user by name or numeric id.
    package static func user(_ nameOrID: String) -> Account? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        if let uid = UInt32(nameOrID) {
            guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else {
                return Account(uid: uid, gid: uid, name: nameOrID)
            }
        } else {
            guard getpwnam_r(nameOrID, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        return Account(uid: entry.pw_uid, gid: entry.pw_gid, name: String(cString: entry.pw_name))
    }

    /// A group id by name or number.
    package static func group(_ nameOrID: String) -> UInt32? {
        if let gid = UInt32(nameOrID) { return gid }
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(nameOrID, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// The user's supplementary groups (from the group database), including `gid`.
    package static func groups(of name: String, gid: UInt32) -> [UInt32] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, gid, &groups, &count) >= 0 else { return [gid] }
        }
        return Array(groups.prefix(Int(count)))
    }

    package static var isRoot: Bool { geteuid() == 0 }
}
