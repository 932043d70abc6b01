import ArgumentParser
import Foundation

/// Where the server is and how to authenticate: shared by every client command. The token is
/// never taken from the command line (it would show in `ps` and shell history).
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("corral's URL (default: $CORRAL_URL or http://127.0.0.1:8080).", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("A file holding the API token (default: $CORRAL_TOKEN).", valueName: "file"))
    var tokenFile: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        var base = url ?? environment["CORRAL_URL"] ?? "http://127.0.0.1:8080"
        while base.hasSuffix("/") { base.removeLast() }
        guard let parsed = URL(string: base), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw ValidationError("--url: expected http://HOST:PORT, got '\(base)'")
        }
        var token = environment["CORRAL_TOKEN"]
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("--token-file: cannot read \(tokenFile)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return APIClient(baseURL: base, token: token?.isEmpty == true ? nil : token)
    }
}

/// Running a client call: failures print a message and exit with the code scripts rely on.
func runClient(_ body: () async throws(APIClient.Failure) -> Void) async throws {
    do {
        try await body()
    } catch {
        FileHandle.standardError.write(Data("corral: \(error)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}

func printJSON(_ data: Data) {
    if let object = try? JSONSerialization.jsonObject(with: data),
        let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    {
        print(String(decoding: pretty, as: UTF8.self))
    } else {
        print(String(decoding: data, as: UTF8.self))
    }
}
