import Foundation

/// Finds the built `webhook-relay` executable for tests that run it as a subprocess.
enum WebhookRelayBinary {
    /// Why the binary could not be found.
    struct NotFound: Error, CustomStringConvertible {
        var searched: [String]
        var description: String {
            "webhook-relay binary not found (set WEBHOOK_RELAY_BINARY); searched: \(searched.joined(separator: ", "))"
        }
    }

    /// The executable's URL.
    ///
    /// `WEBHOOK_RELAY_BINARY` wins when set. Otherwise the build products directory is found from
    /// the running test binary (`/proc/self/exe` on Linux, `CommandLine.arguments[0]`, or the
    /// `.xctest` bundle on macOS) by walking up a few levels, and `webhook-relay` in it is used.
    static func url() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["WEBHOOK_RELAY_BINARY"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        var starts: [URL] = []
        #if os(Linux)
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe))
        }
        #endif
        if let first = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: first).resolvingSymlinksInPath())
        }
        starts.append(Bundle.main.bundleURL)
        starts += Bundle.allBundles.map(\.bundleURL).filter { $0.pathExtension == "xctest" }

        var searched: [String] = []
        for start in starts {
            var directory = start.deletingLastPathComponent()
            for _ in 0..<5 {
                let candidate = directory.appendingPathComponent("webhook-relay")
                searched.append(candidate.path)
                if isExecutableFile(candidate) {
                    return candidate
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw NotFound(searched: searched)
    }

    private static func isExecutableFile(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: url.path)
    }
}
