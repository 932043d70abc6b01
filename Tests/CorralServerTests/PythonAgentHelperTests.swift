import CorralTestSupport
import Foundation
import Testing

/// The unit tests of the agents' Python helpers that need no corral and no livekit-agents, with
/// the system's python3: `clients/python/test_corral_agent.py` (the notify protocol, assignments,
/// the template side of `serve_template`) and `test_corral_livekit_inference.py` (the inference
/// process a LiveKit template shares among its jobs, over its socket).
@Suite("Python agent helpers")
struct PythonAgentHelperTests {
    @Test func theirUnitTestsPass() async throws {
        let directory = PythonClientTests.repository + "/clients/python"
        let result = try await CommandRunner.run(
            "/usr/bin/python3", ["-m", "unittest", "test_corral_agent", "test_corral_livekit_inference"],
            environment: ["PYTHONDONTWRITEBYTECODE": "1"], workingDirectory: directory, timeout: .seconds(300)
        )
        #expect(result.status == 0 && result.errors.contains("\nOK"), "\(result.output)\n\(result.errors)")
    }
}
