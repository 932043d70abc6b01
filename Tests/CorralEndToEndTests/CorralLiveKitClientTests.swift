import CorralTestSupport
import Foundation
import Testing

/// `clients/python/corral_livekit.py` runs an unchanged livekit-agents entrypoint as a job of
/// corral's. Its tests (`Tests/Fixtures/corral_livekit_test.py`) play corral's side with LiveKit's
/// own framework: a cold start with the job in the environment and a prewarmed agent handed the
/// job over its assignment channel, each running the entrypoint with the job's id and room,
/// `ctx.connect()` reaching `LIVEKIT_URL` with corral's token, and SIGTERM ending the job through
/// LiveKit's shutdown sequence; started as a template, jobs forked from it that run prewarm in the
/// fork and share one inference process; and, from a shell, LiveKit's own CLI taking over.
/// `LiveKitAgentsJobTests` and `LiveKitTemplateJobTests` run such jobs under the real corral worker.
@Suite("corral_livekit.py", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"), .takingTurns(.livekitAgents))
struct CorralLiveKitClientTests {
    @Test func livekitEntrypointsRunAsCorralJobsColdAndPrewarmed() async throws {
        let script = TestAgents.directory + "/../corral_livekit_test.py"
        let result = try await CommandRunner.run(
            livekitAgentsPython!, [script], environment: ["PYTHONDONTWRITEBYTECODE": "1"], timeout: .seconds(1200)
        )
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
    }

    /// The LiveKit examples name the livekit-agents version these tests run, and the worker
    /// example calls `corral_livekit.run` as it expects (`Tests/Fixtures/example_agents_check.py`).
    @Test func theExamplesUseThePinnedVersionAndCallRunAsItExpects() async throws {
        let script = TestAgents.directory + "/../example_agents_check.py"
        let result = try await CommandRunner.run(livekitAgentsPython!, [script], environment: ["PYTHONDONTWRITEBYTECODE": "1"], timeout: .seconds(120))
        #expect(result.status == 0 && result.output == "examples ok\n", "\(result.output)\n\(result.errors)")
    }
}
