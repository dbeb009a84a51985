import Foundation

/// Unbuffered standard output, so progress and summaries appear at once even through a pipe.
enum Console {
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
