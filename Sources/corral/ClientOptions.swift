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
        var token = environment["CORRAL_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines)
        var source = "CORRAL_TOKEN"
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("--token-file: cannot read \(tokenFile)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            // An empty file is a mistake (a secret not mounted yet), not a request to send none.
            guard token?.isEmpty == false else { throw ValidationError("--token-file: \(tokenFile) is empty") }
            source = "--token-file \(tokenFile)"
        }
        if let token, let position = Self.unsendable(in: token) {
            // Never the token itself: this lands in terminals, logs and CI output.
            throw ValidationError(
                "\(source): the token has a character an HTTP header cannot carry at position \(position) (a control character, a space or "
                    + "a non-ASCII letter); only visible ASCII characters can be sent"
            )
        }
        return APIClient(baseURL: base, token: token?.isEmpty == true ? nil : token)
    }

    /// The 1-based position of the first character of `token` that is not visible ASCII.
    static func unsendable(in token: String) -> Int? {
        token.unicodeScalars.firstIndex { !(0x21...0x7E).contains($0.value) }.map { token.unicodeScalars.distance(from: token.unicodeScalars.startIndex, to: $0) + 1 }
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
