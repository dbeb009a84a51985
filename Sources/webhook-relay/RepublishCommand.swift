import ArgumentParser
import Foundation
import Synchronization
import WebhookRelay

/// `webhook-relay republish`: dead letters back onto the deliveries topic.
struct RepublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "republish",
        abstract: "Put dead letters back on the deliveries topic (attempts reset, same webhook-id and partition).",
        discussion: """
            Reads the dead-letter topic up to its end as seen at start. Each republished entry is \
            marked on <prefix>.dlq.replayed once the broker acknowledged it, and marked entries are \
            skipped unless --again: re-running is safe. A run killed midway and started again \
            republishes at most 64 entries (those between producing and marking) a second time; \
            none is lost.
            """
    )

    @OptionGroup var relay: RelayOptions
    @Option(name: .customLong("id"), help: ArgumentHelp("A dead letter to republish, <partition>-<offset> (repeatable).", valueName: "id"))
    var ids: [String] = []
    @OptionGroup var filter: DeadLetterFilterOptions
    @Option(help: "At most this many entries (oldest death first).") var limit: Int?
    @Option(help: ArgumentHelp("At most this many per period, like 100/s.", valueName: "rate")) var rate: String?
    @Flag(help: "Republish entries that were republished before.") var again = false
    @Flag(help: "Print what would be republished and change nothing.") var dryRun = false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
        if let rate, RateLimit.Rate(rate) == nil { throw ValidationError("--rate expects a rate like 100/s") }
    }

    func run() async throws {
        var options = Republisher.Options()
        options.filter = try filter.make(ids: ids)
        options.limit = limit
        options.rate = rate.flatMap(RateLimit.Rate.init)
        options.again = again
        options.dryRun = dryRun
        let resolved = try relay.resolve()
        let republisher = Republisher(
            bootstrapServers: resolved.brokers, topics: resolved.topics, properties: resolved.kafkaProperties,
            logger: logging.makeLogger(label: "webhook-relay.republish", layers: resolved.layers)
        )
        let meter = ProgressMeter()
        let (summary, entries) = try await republisher.run(options) { done, total in meter.update(done: done, total: total) }
        meter.finish()
        if dryRun {
            for entry in entries {
                Console.line("would republish \(entry.id)  endpoint=\(entry.endpointID ?? "-")  webhook-id=\(entry.webhookID ?? "-")  reason=\(entry.reason ?? "-")")
            }
            Console.line("dry run: \(summary.republished) would be republished, \(summary.skippedReplayed) skipped as already republished (of \(summary.matched) matching)\(Self.omitted(summary))")
        } else {
            Console.line("republished \(summary.republished), skipped \(summary.skippedReplayed) already republished (of \(summary.matched) matching)\(Self.omitted(summary))")
        }
    }

    /// Entries the DLQ holds without their body cannot be republished; the summary says so.
    static func omitted(_ summary: Republisher.Summary) -> String {
        summary.skippedBodyOmitted == 0 ? "" : "; \(summary.skippedBodyOmitted) skipped: kept without their body (too large for the DLQ)"
    }
}

/// Progress of a long run: a counter with rate and ETA redrawn on a terminal, a line a second otherwise.
final class ProgressMeter: Sendable {
    private struct State {
        var lastDrawn: ContinuousClock.Instant?
        var drewInline = false
    }

    private let started = ContinuousClock.now
    private let interactive = isatty(STDOUT_FILENO) != 0
    private let state = Mutex(State())

    func update(done: Int, total: Int) {
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            let interval: Duration = interactive ? .milliseconds(100) : .seconds(1)
            guard done == total || state.lastDrawn.map({ now - $0 >= interval }) ?? true else { return nil }
            state.lastDrawn = now
            state.drewInline = interactive
            let elapsed = Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let eta = rate > 0 ? Double(total - done) / rate : 0
            return String(format: "republished %d/%d  %.1f/s  ETA %.0fs", done, total, rate, eta)
        }
        guard let line else { return }
        if interactive {
            FileHandle.standardOutput.write(Data(("\r" + line + "\u{1B}[K").utf8))
        } else {
            Console.line(line)
        }
    }

    func finish() {
        if state.withLock({ $0.drewInline }) { Console.line() }
    }
}
