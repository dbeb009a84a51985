import ArgumentParser
import Foundation

/// Reports a problem found while a command runs (a bad secret, an unreadable secret file) the way
/// argument errors are reported: `Error: …` on standard error and exit status 64, so that exit
/// status 1 keeps meaning "verified and invalid".
enum CommandFailure {
    /// Prints `Error: <message>` to standard error and returns the exit code to throw.
    static func usage(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        return ExitCode.validationFailure
    }
}
