import Foundation

/// The process's standard input.
enum StandardInput {
    /// All of standard input, as bytes, exactly as given.
    static func readAll() -> [UInt8] {
        [UInt8](FileHandle.standardInput.readDataToEndOfFile())
    }
}
