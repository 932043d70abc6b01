import CorralCore
import Testing

@Suite("Redaction")
struct RedactorTests {
    let redactor = Redactor()

    @Test(arguments: ["API_TOKEN", "github_token", "MY_SECRET", "SECRET_ARN", "AWS_ACCESS_KEY_ID", "key", "DB_PASSWORD", "password"])
    func secretNamesAreHidden(_ name: String) {
        #expect(redactor.environment([name: "value-123"]) == [name: Redactor.mask])
    }

    @Test(arguments: ["PATH", "HOME", "LOG_LEVEL", "CORRAL_SESSION_ID", "MONKEY_BUSINESS_X"])
    func otherNamesAreKept(_ name: String) {
        // MONKEY contains KEY: the default patterns are deliberately broad.
        let expected = name.uppercased().contains("KEY") ? Redactor.mask : "value"
        #expect(redactor.environment([name: "value"]) == [name: expected])
    }

    @Test func argumentsWithSecretNames() {
        #expect(redactor.arguments(["agent", "--token=abc", "--api-key", "xyz", "--room", "lobby"]) == ["agent", "--token=[redacted]", "--api-key", "[redacted]", "--room", "lobby"])
        #expect(redactor.arguments(["env", "DB_PASSWORD=hunter2", "python3"]) == ["env", "DB_PASSWORD=[redacted]", "python3"])
        #expect(redactor.arguments(["--verbose", "file"]) == ["--verbose", "file"])
    }

    @Test func urlPasswords() {
        #expect(redactor.urls(in: "postgres://app:s3cr3t@db.internal:5432/calls") == "postgres://app:[redacted]@db.internal:5432/calls")
        #expect(redactor.urls(in: "redis://:pw@localhost/0 and https://example.com/a@b") == "redis://:[redacted]@localhost/0 and https://example.com/a@b")
        #expect(redactor.arguments(["--db", "postgres://u:p@h/d"]) == ["--db", "postgres://u:[redacted]@h/d"])
        #expect(redactor.urls(in: "no url here") == "no url here")
    }

    @Test func logLines() {
        #expect(redactor.text("connecting with OPENAI_API_KEY=sk-abc and mode=fast") == "connecting with OPENAI_API_KEY=[redacted] and mode=fast")
        #expect(redactor.text("url postgres://u:pw@host/db, done") == "url postgres://u:[redacted]@host/db, done")
        #expect(redactor.text("--password=x") == "--password=[redacted]")
    }

    @Test func customPatterns() {
        let custom = Redactor(patterns: ["PATIENT_*"])
        #expect(custom.environment(["PATIENT_NAME": "Jane", "API_TOKEN": "t"]) == ["PATIENT_NAME": Redactor.mask, "API_TOKEN": "t"])
    }
}
