import CorralCore
import CorralPlatform
import Foundation
import LiveKitWorkerProtocol
import CorralReports
import CorralConfiguration

/// What `corral serve` refuses or fails at beyond the configuration's loading, found without
/// starting anything (`corral check`): listening exposed without a token (serve refuses, exit 2),
/// a TLS context it could not make from the certificate and key (files of this host: a warning),
/// and LiveKit worker connection settings it could not make (a URL the worker cannot use). The
/// TLS context and the settings are made and thrown away; nothing listens or connects.
public enum StartupCheck {
    public static func add(to check: inout ConfigurationCheck) {
        guard let configuration = check.configuration else { return }
        if let refusal = ExposureCheck.refusal(configuration) {
            check.add(ConfigurationFinding(key: "listen", message: refusal), .refusal)
        }
        if let problem = tlsProblem(configuration) {
            check.add(ConfigurationFinding(key: "tls_cert_file", message: problem), .warning)
        }
        guard let livekit = configuration.livekit else { return }
        for name in configuration.agents.keys.sorted() {
            guard let settings = configuration.agents[name]?.livekitWorker else { continue }
            do throws(CorralError) {
                _ = try WorkerConnectionConfiguration(profile: name, settings: settings, livekit: livekit, version: "corral")
            } catch {
                let key = "agents.\(name).livekit_worker"
                let message = error.message.hasPrefix(key + ": ") ? String(error.message.dropFirst(key.count + 2)) : error.message
                check.add(ConfigurationFinding(key: key, message: message), .error)
            }
        }
    }

    /// Why serve could not set up TLS, or nil (also where no TLS is configured, or the files
    /// cannot be read here: the check says so where it reads the keys).
    private static func tlsProblem(_ configuration: CorralConfiguration) -> String? {
        guard let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile,
            FileManager.default.isReadableFile(atPath: certificate), FileManager.default.isReadableFile(atPath: key)
        else { return nil }
        do {
            _ = try CorralApp.serverBuilder(configuration)
            return nil
        } catch {
            return error.message
        }
    }
}
