import CorralCore
import CorralSecurity
import Foundation
import Testing

@testable import CorralServer

/// The credential one node puts on a request it passes on: it names the caller, binds the
/// request's method and target, and is good once, within the window, for the same secret only.
@Suite("Cluster credential")
struct ClusterCredentialTests {
    let secret = ClusterSecret("the-cluster-secret-of-these-tests-0123456789")
    let caller = Identity(name: "ops team", role: .read)

    @Test func aSignedRequestNamesItsCallerOnce() throws {
        let credential = ClusterCredential(secret: secret)
        let header = credential.sign(method: "DELETE", target: "/api/sessions/a?x=1", node: "node-a", caller: caller)
        let verified = try ClusterCredential(secret: secret).verify(header, method: "DELETE", target: "/api/sessions/a?x=1")
        #expect(verified.node == "node-a" && verified.caller == caller)

        let receiver = ClusterCredential(secret: secret)
        _ = try receiver.verify(header, method: "DELETE", target: "/api/sessions/a?x=1")
        #expect(throws: ClusterCredential.Refusal.replayed) { try receiver.verify(header, method: "DELETE", target: "/api/sessions/a?x=1") }
    }

    @Test func anythingChangedOrStaleIsRefused() throws {
        let credential = ClusterCredential(secret: secret)
        let header = credential.sign(method: "GET", target: "/api/sessions/a/logs", node: "node-a", caller: caller)
        #expect(throws: ClusterCredential.Refusal.badSignature) { try credential.verify(header, method: "DELETE", target: "/api/sessions/a/logs") }
        #expect(throws: ClusterCredential.Refusal.badSignature) { try credential.verify(header, method: "GET", target: "/api/sessions/b/logs") }
        let admin = header.replacingOccurrences(of: "role=read", with: "role=admin")
        #expect(throws: ClusterCredential.Refusal.badSignature) { try credential.verify(admin, method: "GET", target: "/api/sessions/a/logs") }
        let other = ClusterCredential(secret: ClusterSecret("another-secret-altogether-0123456789abcdef"))
        #expect(throws: ClusterCredential.Refusal.badSignature) { try other.verify(header, method: "GET", target: "/api/sessions/a/logs") }

        let old = credential.sign(method: "GET", target: "/x", node: "node-a", caller: caller, now: Date() - 120)
        #expect(throws: ClusterCredential.Refusal.outsideWindow) { try credential.verify(old, method: "GET", target: "/x") }
        for garbage in ["", "v1", "v2 node=00", "v1 node=zz time=1 nonce=1 name=61 role=read mac=00", "v1 node=61 time=x nonce=1 name=61 role=god mac=00"] {
            #expect(throws: ClusterCredential.Refusal.malformed) { try credential.verify(garbage, method: "GET", target: "/x") }
        }
    }
}
