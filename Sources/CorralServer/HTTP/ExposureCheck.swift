import CorralCore
import CorralConfiguration

/// What `corral serve` checks before it listens: without any token, whoever reaches the port
/// may start agents, so only loopback is served unless `allow_unauthenticated` says otherwise.
/// A policy of the command, not of the configuration: a program embedding corral decides itself.
public enum ExposureCheck {
    /// Why corral must not listen with this configuration, or nil.
    public static func refusal(_ configuration: CorralConfiguration) -> String? {
        guard !configuration.requiresAuthentication, !configuration.allowUnauthenticated, !HostCheck.isLoopback(configuration.listen.host) else {
            return nil
        }
        return "listen \(configuration.listen) is not a loopback address and no api_token (nor api_token_file or tokens) is set: "
            + "anyone who can reach the port could start and end agents. Set api_token, listen on 127.0.0.1, "
            + "or set allow_unauthenticated: true to serve without a token anyway"
    }

    /// Served without a token where others can reach it (allowed, and worth a warning).
    public static func isExposed(_ configuration: CorralConfiguration) -> Bool {
        !configuration.requiresAuthentication && !HostCheck.isLoopback(configuration.listen.host)
    }
}
