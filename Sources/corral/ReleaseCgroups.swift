import ArgumentParser
import CorralCore
import CorralPlatform
import Foundation

struct ReleaseCgroups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release-cgroups",
        abstract: "Hand back the controllers of corral's delegated cgroup, so that systemd can start corral in it again.",
        discussion: """
            For the systemd unit's ExecStopPost=. cgroup v2 lets no process be placed in a cgroup \
            that hands controllers down, and sessions left running (shutdown: detach, or a crash) \
            keep corral's delegated cgroup populated: without this, systemd 252 cannot start the \
            next corral (status 219/CGROUP). Sessions keep running; their cgroup limits are written \
            again when the next corral adopts them. It reads no configuration (the stopped unit may \
            not see the files it names) and does nothing outside a delegated cgroup.

            Exits with status 1 when a controller could not be handed back.

            Example (deploy/systemd/corral.service):
              ExecStopPost=-/usr/local/bin/corral release-cgroups
            """
    )

    func run() async throws {
        let host = CgroupHost.discover()
        guard let delegation = CgroupDelegation.find(host: host) else {
            print("corral: not in a delegated cgroup (\(host.v2OwnDirectory ?? "no cgroup v2 hierarchy")); nothing to release")
            return
        }
        let failures = delegation.release()
        for failure in failures {
            FileHandle.standardError.write(Data("corral: cannot release the controllers of \(failure.cgroup): \(failure.error)\n".utf8))
        }
        if !failures.isEmpty { throw ExitCode(1) }
        print("corral: released the controllers handed down in \(delegation.directory)")
    }
}
