import CorralPlatform
import Foundation
import CorralConfiguration

extension ConfigurationCheck {
    /// The directories and files the keys name that corral makes or uses (the data directory,
    /// the database, the audit log, agents' working directories, the way to the notify socket
    /// for agents running as another user), looked at without making any or opening one for
    /// writing (an existing database's first bytes are read). The files the loader reads itself
    /// (tokens, secrets, TLS) are its own host problems.
    static func fileProblems(_ configuration: CorralConfiguration, workingDirectory: String, label: (String) -> String) -> [ConfigurationFinding] {
        var problems: [ConfigurationFinding] = []
        let dataDirectory = configuration.dataDirectory
        let dataProblem = PathProbe.creatableDirectoryProblem(dataDirectory)
        if let dataProblem {
            problems.append(ConfigurationFinding(key: label("data_dir"), message: dataProblem))
        } else if let holder = PathProbe.lockHolder(dataDirectory + "/corral.lock") {
            problems.append(
                ConfigurationFinding(
                    key: label("data_dir"),
                    message: "another corral (pid \(holder)) is running with the data directory \(dataDirectory); corral serve would not start"
                )
            )
        }
        var files = [(key: "audit_log", path: configuration.resolvedAuditLogPath)]
        if let database = configuration.resolvedStorePath { files.insert((key: "store", path: database), at: 0) }
        for (key, path) in files {
            let path = URL(fileURLWithPath: path).standardizedFileURL.path
            // One in the data directory has its problem told already.
            if dataProblem != nil && PathProbe.parent(of: path) == dataDirectory { continue }
            if let problem = PathProbe.writableFileProblem(path, createdDirectory: dataDirectory)
                ?? (key == "store" ? PathProbe.sqliteDatabaseProblem(path) : nil)
            {
                problems.append(ConfigurationFinding(key: label(key), message: problem))
            }
        }
        for (name, profile) in configuration.agents.sorted(by: { $0.key < $1.key }) {
            guard let cwd = profile.workingDirectory else { continue }
            let path = cwd.hasPrefix("/") ? cwd : workingDirectory + "/" + cwd
            if let problem = PathProbe.workingDirectoryProblem(path, writes: false) {
                problems.append(ConfigurationFinding(key: label("agents.\(name).cwd"), message: problem))
            }
        }
        for problem in NotifySocketReach.problems(configuration) {
            problems.append(ConfigurationFinding(key: label("agents.\(problem.agent).user"), message: problem.message))
        }
        return problems
    }
}
