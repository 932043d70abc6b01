/// The agent corral runs when no configuration names one: a small Python program that behaves
/// like a voice agent (it starts a helper child, the way an agent starts ffmpeg, reports
/// readiness if asked to, and cleans up on SIGTERM). It is embedded so that `corral serve` works
/// from any directory; corral writes it into the data directory at start-up.
public enum DemoAgent {
    public static let profileName = "demo"
    public static let fileName = "demo-agent.py"

    public static func scriptPath(dataDirectory: String) -> String {
        dataDirectory + "/" + fileName
    }

    public static func profile(dataDirectory: String) -> AgentProfile {
        AgentProfile(
            command: ["/usr/bin/env", "python3", scriptPath(dataDirectory: dataDirectory)],
            environment: ["LOG_LEVEL": "info"]
        )
    }

    public static let script = #"""
        #!/usr/bin/env python3
        """corral's demo agent: stands in for a voice agent and its ffmpeg child."""
        import json, os, signal, socket, subprocess, sys, time

        session = os.environ.get("CORRAL_SESSION_ID", "?")
        metadata = json.loads(os.environ.get("CORRAL_METADATA", "{}"))

        def log(message):
            print(f"[demo-agent {session}] {message}", flush=True)

        log(f"starting (pid {os.getpid()}, agent {os.environ.get('CORRAL_AGENT')}, metadata keys {sorted(metadata)})")
        # The stand-in for ffmpeg: a child in the agent's process group.
        helper = subprocess.Popen(["sleep", "86400"])
        log(f"started helper pid {helper.pid}")

        def stop(signum, frame):
            log("SIGTERM: ending the call, stopping the helper")
            helper.terminate()
            helper.wait()
            log("done")
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)

        notify = os.environ.get("NOTIFY_SOCKET")
        if notify:
            address = "\0" + notify[1:] if notify.startswith("@") else notify
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(b"READY=1\nSTATUS=waiting for the caller", address)
            log("sent READY=1")

        while True:
            time.sleep(30)
            log("still in the call")
        """#
}
