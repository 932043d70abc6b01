import CorralCore
import CorralPlatform
import CorralSecurity
import Foundation
import HTTPTypes
import Synchronization

/// How one node vouches for a request it passes on to another, instead of passing on the caller's
/// token: `Corral-Cluster-Signature` carries the node, the time, a nonce, the caller the first node
/// authenticated (name and role), and the cluster secret's signature of those and of the request's
/// method and target. The node that receives it takes the caller from there, once the signature
/// verifies, the time is within `window` of its own clock, and the nonce was not seen before
/// (a captured request cannot be sent again).
final class ClusterCredential: Sendable {
    static let header = HTTPField.Name("Corral-Cluster-Signature")!
    /// How far a signed request's time may be from the receiver's clock.
    static let window: TimeInterval = 30

    let secret: ClusterSecret
    /// Nonces of the signed requests accepted within the window, with their times.
    private let seen = Mutex<[String: TimeInterval]>([:])

    init(secret: ClusterSecret) {
        self.secret = secret
    }

    /// The header for a request `node` passes on for `caller`.
    func sign(method: String, target: String, node: String, caller: Identity, now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let fields = Fields(
            node: node, time: String(Int64((now.timeIntervalSince1970 * 1000).rounded())),
            nonce: Hex.string((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }),
            name: caller.name, role: caller.role.rawValue
        )
        let mac = secret.sign(fields.signed(method: method, target: target))
        return "v1 node=\(Hex.string(fields.node.utf8)) time=\(fields.time) nonce=\(fields.nonce) "
            + "name=\(Hex.string(fields.name.utf8)) role=\(fields.role) mac=\(mac)"
    }

    /// Why a signed request is refused.
    enum Refusal: Error, CustomStringConvertible {
        case malformed
        case badSignature
        case outsideWindow
        case replayed

        var description: String {
            switch self {
            case .malformed: "the cluster signature cannot be read"
            case .badSignature: "the cluster signature does not verify (the nodes' cluster secrets differ, or the request was changed)"
            case .outsideWindow: "the signed request is more than \(Int(ClusterCredential.window)) s from this node's clock"
            case .replayed: "the signed request was already received once"
            }
        }
    }

    /// The node and the caller a signed request is made for, or why it is refused.
    func verify(_ header: String, method: String, target: String, now: Date = Date()) throws(Refusal) -> (node: String, caller: Identity) {
        guard let fields = Fields(header), let role = Role(rawValue: fields.role), let millis = Int64(fields.time) else { throw .malformed }
        guard secret.verify(fields.mac, fields.signed(method: method, target: target)) else { throw .badSignature }
        let time = TimeInterval(millis) / 1000
        let clock = now.timeIntervalSince1970
        guard abs(clock - time) <= Self.window else { throw .outsideWindow }
        let fresh = seen.withLock { seen in
            if seen.count > 1024 { seen = seen.filter { clock - $0.value <= Self.window } }
            return seen.updateValue(time, forKey: fields.nonce) == nil
        }
        guard fresh else { throw .replayed }
        return (fields.node, Identity(name: fields.name, role: role))
    }

    private struct Fields {
        var node: String
        var time: String
        var nonce: String
        var name: String
        var role: String
        var mac = ""

        init(node: String, time: String, nonce: String, name: String, role: String) {
            (self.node, self.time, self.nonce, self.name, self.role) = (node, time, nonce, name, role)
        }

        /// Parses `v1 node=… time=… nonce=… name=… role=… mac=…` (node and name in hex).
        init?(_ header: String) {
            let words = header.split(separator: " ")
            guard words.first == "v1" else { return nil }
            var values: [Substring: Substring] = [:]
            for word in words.dropFirst() {
                guard let equals = word.firstIndex(of: "=") else { return nil }
                values[word[..<equals]] = word[word.index(after: equals)...]
            }
            guard let node = values["node"].flatMap({ Hex.bytes(String($0)) }), let name = values["name"].flatMap({ Hex.bytes(String($0)) }),
                let time = values["time"], let nonce = values["nonce"], let role = values["role"], let mac = values["mac"]
            else { return nil }
            self.init(
                node: String(decoding: node, as: UTF8.self), time: String(time), nonce: String(nonce),
                name: String(decoding: name, as: UTF8.self), role: String(role)
            )
            self.mac = String(mac)
        }

        func signed(method: String, target: String) -> [String] {
            ["corral-forward-v1", method, target, node, time, nonce, name, role]
        }
    }
}
