import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import NIOSSL
import Testing

/// `wss://`: the worker connects over TLS (NIOSSL), trusting what its configuration says.
@Suite(
    "LiveKit worker over TLS",
    .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "no /usr/bin/openssl to make a test certificate; skipped")
)
struct WorkerTLSTests {
    let connections = WorkerConnectionTests()

    /// A self-signed certificate for localhost and its key, in a new directory.
    func certificate() async throws -> (directory: String, certificate: String, key: String) {
        let directory = NSTemporaryDirectory() + "livekit-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem", key = directory + "/key.pem"
        let made = try await CommandRunner.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
        ])
        try #require(made.status == 0, "\(made.errors)")
        return (directory, certificate, key)
    }

    @Test func aWorkerRegistersOverWSSWithTheServersCertificateTrusted() async throws {
        let tls = try await certificate()
        defer { try? FileManager.default.removeItem(atPath: tls.directory) }
        try await LiveKitTestServer.with(extraArguments: ["--tls-port", "0", "--tls-cert", tls.certificate, "--tls-key", tls.key]) { server in
            let tlsPort = try #require(server.tlsPort)
            let trusted = try await connections.withWorker(server, configure: {
                $0.endpoint = try! WorkerEndpoint(livekitURL: "https://localhost:\(tlsPort)")
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.trustRoots = .file(tls.certificate)
                $0.tlsConfiguration = configuration
            }) { connection, _ in
                try #require(await connections.registered(connection))
            }
            let workers = try await server.workers()
            #expect(workers.map { $0["id"] as? String } == [trusted])

            // Without the certificate among its trust roots, the worker does not talk to it.
            try await connections.withWorker(server, configure: {
                $0.endpoint = try! WorkerEndpoint(livekitURL: "wss://localhost:\(tlsPort)")
            }) { connection, delegate in
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { await delegate.disconnects.count >= 2 })
                let state = await connection.state
                #expect(!state.connected)
                #expect(state.lastError != nil)
            }
            #expect(try await server.workers().count == 1)
        }
    }
}
