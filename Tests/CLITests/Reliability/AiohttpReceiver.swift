import Foundation

/// A receiver the project did not write: a plain Python aiohttp app (`web.run_app`, default
/// settings) that answers every POST with 204 at once and logs each request as a JSON line.
/// Optionally it fails a share of the requests under a path prefix at random with 500, and checks
/// each request's Standard Webhooks signature with Python's own `hmac` (logged as `verified`).
///
/// Needs Python 3 with aiohttp: Debian's `python3-aiohttp`, which `make deps` and `.ci/run`
/// install. A test that needs it fails (it does not skip) when it is missing.
final class AiohttpReceiver {
    /// One logged request.
    struct Entry: Decodable {
        /// When the handler saw it (epoch seconds).
        var t: Double
        var path: String
        var id: String?
        /// The relay's `Webhook-Attempt` header.
        var attempt: String?
        /// The answer's status, and whether the signature checked out (with a secret given).
        var status: Int?
        var verified: Bool?
    }

    static let script = """
        import base64, hashlib, hmac, json, random, sys, time
        from aiohttp import web
        log = open(sys.argv[1], "w", buffering=1)
        fail_share, fail_prefix = float(sys.argv[2]), sys.argv[3]
        key = base64.b64decode(sys.argv[4].removeprefix("whsec_")) if len(sys.argv) > 4 else None

        def verified(request, body):
            if key is None:
                return None
            signed = f"{request.headers.get('webhook-id')}.{request.headers.get('webhook-timestamp')}.".encode() + body
            expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            given = [part.split(",", 1)[1] for part in request.headers.get("webhook-signature", "").split() if "," in part]
            return any(hmac.compare_digest(expected, signature) for signature in given)

        async def handle(request):
            body = await request.read()
            status = 500 if fail_prefix and request.path.startswith(fail_prefix) and random.random() < fail_share else 204
            log.write(json.dumps({"t": time.time(), "path": request.path, "id": request.headers.get("webhook-id"),
                                  "attempt": request.headers.get("Webhook-Attempt"), "status": status,
                                  "verified": verified(request, body)}) + "\\n")
            return web.Response(status=status)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app)

        async def main():
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            print("listening", site._server.sockets[0].getsockname()[1], flush=True)
            while True:
                await asyncio.sleep(3600)

        import asyncio
        asyncio.run(main())
        """

    let process = Process()
    let url: String
    private let logFile: URL

    /// Starts the app on a free port of 127.0.0.1; it fails `failureShare` of the requests whose
    /// path starts with `failingPrefix` (none when empty) and verifies signatures with `secret`.
    init(scenario: Scenario, failureShare: Double = 0, failingPrefix: String = "", secret: String? = nil) throws {
        let python = try Self.python()
        let scriptFile = scenario.file("aiohttp_receiver.py")
        try Self.script.write(to: scriptFile, atomically: true, encoding: .utf8)
        logFile = scenario.file("aiohttp.jsonl")
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [scriptFile.path, logFile.path, String(failureShare), failingPrefix] + (secret.map { [$0] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: {
            let file = scenario.file("aiohttp.log")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            return file
        }())
        try process.run()
        let line = try ProcessRunner.firstLine(of: output.fileHandleForReading)
        guard line.hasPrefix("listening "), let port = Int(line.dropFirst("listening ".count)) else {
            throw Missing(description: "the aiohttp receiver did not start: \(line)")
        }
        url = "http://127.0.0.1:\(port)"
    }

    /// Every request logged so far.
    var entries: [Entry] {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// A Python 3 that imports aiohttp: Debian's `/usr/bin/python3` first, then `python3` on the PATH.
    static func python() throws -> String {
        var candidates = ["/usr/bin/python3"]
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/python3")
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let check = Process()
            check.executableURL = URL(fileURLWithPath: candidate)
            check.arguments = ["-c", "import aiohttp"]
            check.standardOutput = FileHandle.nullDevice
            check.standardError = FileHandle.nullDevice
            guard (try? check.run()) != nil else { continue }
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while check.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if !check.isRunning && check.terminationStatus == 0 { return candidate }
        }
        throw Missing(description: "no python3 with aiohttp found: install Debian's python3-aiohttp (make deps does)")
    }
}
