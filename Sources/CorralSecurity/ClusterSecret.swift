import CorralPlatform
import Crypto
import Foundation

/// The secret corral nodes sharing one Redis hold in common, and nothing in Redis holds: it signs
/// the records they write there (so a record someone else wrote is never trusted) and the
/// requests one node passes on to another (so a caller's token never leaves the node it was
/// given to).
///
/// Given by `cluster_secret_file` (or `cluster_secret`) on every node. A node given none makes
/// one for itself and keeps it in its data directory: a single node on Redis needs no setting,
/// and its records are still signed. Such a secret is not shared, so the node trusts no other
/// node's records and passes nothing on.
public struct ClusterSecret: Sendable {
    /// Where the secret came from.
    public enum Origin: Sendable, Equatable {
        /// `cluster_secret` or `cluster_secret_file`: the same on every node, by the operator.
        case configured
        /// Made by this node and kept in the data directory: this node's alone.
        case generated(path: String)
    }

    /// The configuration keys that give a shared secret, for messages telling what to set.
    public static let keyHint = "set the same cluster_secret_file (or cluster_secret) on every node"
    /// A shorter secret is refused: it is all that stands between Redis's writers and the nodes.
    public static let minimumLength = 32
    static let fileName = "cluster-secret"

    public let origin: Origin
    /// The secret's bytes (a `SymmetricKey` is made for each use: it is not `Sendable`).
    private let bytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: bytes) }

    public var isShared: Bool { origin == .configured }

    public init(_ secret: String, origin: Origin = .configured) {
        self.origin = origin
        bytes = Array(secret.utf8)
    }

    /// The configured secret, or this node's own from the data directory (made there, 0600, on
    /// first use).
    public static func resolve(configured: String?, dataDirectory: DataDirectory) throws(CorralError) -> ClusterSecret {
        if let configured { return ClusterSecret(configured) }
        let path = dataDirectory.path + "/" + fileName
        if let stored = try? String(contentsOfFile: path, encoding: .utf8) {
            let secret = stored.trimmingCharacters(in: .whitespacesAndNewlines)
            if secret.utf8.count >= minimumLength { return ClusterSecret(secret, origin: .generated(path: path)) }
        }
        var generator = SystemRandomNumberGenerator()
        let secret = Hex.string((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try dataDirectory.install(secret + "\n", as: fileName, mode: 0o600)
        return ClusterSecret(secret, origin: .generated(path: path))
    }

    /// The signature of `parts`, in hex.
    public func sign(_ parts: [String]) -> String {
        Hex.string(HMAC<SHA256>.authenticationCode(for: Self.message(parts), using: key))
    }

    /// Whether `signature` is the signature of `parts` (compared in constant time).
    public func verify(_ signature: String, _ parts: [String]) -> Bool {
        guard let code = Hex.bytes(signature), code.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Self.message(parts), using: key)
    }

    /// Each part length-prefixed, so that no two different lists of parts make the same bytes.
    private static func message(_ parts: [String]) -> [UInt8] {
        var message: [UInt8] = []
        for part in parts {
            withUnsafeBytes(of: UInt64(part.utf8.count).bigEndian) { message += $0 }
            message += part.utf8
        }
        return message
    }
}
