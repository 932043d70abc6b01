import ArgumentParser
import CorralConfiguration
import CorralPlatform
import CorralSecurity
import Foundation

/// `--config FILE` (or `$CORRAL_CONFIG`), for the commands that read corral's configuration.
struct ConfigurationFileOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A JSON configuration file (default: $CORRAL_CONFIG).", valueName: "file"))
    var config: String?

    /// The file named, by the option or the environment.
    func file(in environment: [String: String]) -> String? {
        config ?? environment["CORRAL_CONFIG"]
    }

    /// The configuration, or exit status 2 with what is wrong on stderr. The message may quote a
    /// value (a store URL with its password): it is redacted, as it may land in a journal.
    func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CorralConfiguration {
        do throws(CorralError) {
            return try ConfigurationLoader.load(file: file(in: environment), environment: environment)
        } catch {
            FileHandle.standardError.write(Data("corral: \(error.redacted(by: Redactor()))\n".utf8))
            throw ExitCode(2)
        }
    }
}
