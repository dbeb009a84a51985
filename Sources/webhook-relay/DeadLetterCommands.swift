import ArgumentParser
import Foundation
import Logging
import WebhookRelay

/// `webhook-relay dlq`: inspect the dead-letter topic.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect dead letters: list, show one, statistics.",
        subcommands: [List.self, Show.self, Stats.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, most recent first.")

        @OptionGroup var relay: RelayOptions
        @OptionGroup var filter: DeadLetterFilterOptions
        @Option(help: "Entries to show.") var limit: Int = 50
        @Option(help: "Entries to skip first (for paging).") var offset: Int = 0
        @Flag(help: "Print JSON (an array of objects) instead of a table.") var json = false
        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard limit >= 0, offset >= 0 else { throw ValidationError("--limit and --offset must not be negative") }
        }

        func run() async throws {
            let archive = try await DeadLetterCommand.archive(relay, logging)
            let selected = Array(archive.select(try filter.make()).dropFirst(offset).prefix(limit))
            if json {
                Console.line(try DeadLetterJSON.encode(selected.map { DeadLetterJSON(entry: $0, includeBody: false) }))
                return
            }
            let header = ["ID", "ENDPOINT", "WEBHOOK-ID", "EVENT", "REASON", "ATTEMPTS", "DIED AT", "STATUS", "RE-ENQUEUED AT"]
            let rows = selected.map { entry in
                [
                    entry.id.description, entry.endpointID ?? "-", entry.webhookID ?? "-", entry.event ?? "-", entry.reason ?? "-",
                    entry.attempts.map(String.init) ?? "-", TimeText.format(entry.diedAt), entry.lastStatus.map(String.init) ?? "-",
                    entry.replayedAt.map { TimeText.format($0) } ?? "",
                ]
            }
            Console.line(Table.render([header] + rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter: every header, the last error and the body.")

        @OptionGroup var relay: RelayOptions
        @Argument(help: "The entry's id, <partition>-<offset> (as `dlq list` prints it).") var id: String
        @Flag(help: "Print the body's size instead of the body.") var noBody = false
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard DeadLetter.ID(id) != nil else { throw ValidationError("'\(id)' is not a dead-letter id like 3-1042") }
        }

        func run() async throws {
            guard let wanted = DeadLetter.ID(id) else { throw ExitCode.validationFailure }
            let archive = try await DeadLetterCommand.archive(relay, logging)
            guard let entry = archive.entries.first(where: { $0.id == wanted }) else {
                throw ValidationError("no dead letter \(wanted) (ids are <partition>-<offset> of the dead-letter topic)")
            }
            if json {
                Console.line(try DeadLetterJSON.encode(DeadLetterJSON(entry: entry, includeBody: !noBody)))
                return
            }
            Console.line("id:             \(entry.id)")
            Console.line("endpoint:       \(entry.endpointID ?? "-")")
            Console.line("webhook-id:     \(entry.webhookID ?? "-")")
            Console.line("event:          \(entry.event ?? "-")")
            Console.line("reason:         \(entry.reason ?? "-")")
            Console.line("attempts:       \(entry.attempts.map(String.init) ?? "-")")
            Console.line("died at:        \(TimeText.format(entry.diedAt))")
            Console.line("last status:    \(entry.lastStatus.map(String.init) ?? "-")")
            Console.line("last error:     \(entry.lastError ?? "-")")
            Console.line("re-enqueued at: \(entry.replayedAt.map { TimeText.format($0) } ?? "never")")
            Console.line("headers:")
            for header in entry.record.headers {
                Console.line("  \(header.key): \(header.stringValue ?? header.value.map { "<\($0.count) bytes>" } ?? "<null>")")
            }
            if let omitted = entry.bodyOmitted {
                Console.line("body: omitted, \(omitted) bytes (the DLQ refused the whole record; republish skips it)")
            } else if noBody {
                Console.line("body: \(entry.record.value.count) bytes")
            } else {
                Console.line("body (\(entry.record.value.count) bytes):")
                Console.line(String(validating: entry.record.value, as: UTF8.self) ?? Data(entry.record.value).base64EncodedString())
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count dead letters by endpoint and reason.")

        @OptionGroup var relay: RelayOptions
        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            let archive = try await DeadLetterCommand.archive(relay, logging)
            var counts: [String: [String: Int]] = [:]
            for entry in archive.entries {
                counts[entry.endpointID ?? "-", default: [:]][entry.reason ?? "-", default: 0] += 1
            }
            let reasons = Set(counts.values.flatMap(\.keys)).sorted()
            var rows = [["ENDPOINT"] + reasons.map { $0.uppercased() } + ["TOTAL"]]
            for endpoint in counts.keys.sorted() {
                let byReason = counts[endpoint] ?? [:]
                rows.append([endpoint] + reasons.map { String(byReason[$0] ?? 0) } + [String(byReason.values.reduce(0, +))])
            }
            Console.line(Table.render(rows))
            let times = archive.entries.compactMap(\.diedAt)
            Console.line("entries: \(archive.entries.count), re-enqueued: \(archive.entries.filter { $0.replayedAt != nil }.count)")
            Console.line("oldest death: \(TimeText.format(times.min())), newest death: \(TimeText.format(times.max()))")
        }
    }

    static func archive(_ relay: RelayOptions, _ logging: LoggingOptions) async throws -> DeadLetterArchive {
        let resolved = try relay.resolve()
        let logger = logging.makeLogger(label: "webhook-relay.dlq", layers: resolved.layers)
        return try await DeadLetterArchive.read(
            bootstrapServers: resolved.brokers, topics: resolved.topics, properties: resolved.kafkaProperties, logger: logger
        )
    }
}

/// `--endpoint --event --reason --since --until`, shared by `dlq list` and `republish`.
struct DeadLetterFilterOptions: ParsableArguments {
    @Option(help: "Only this endpoint.") var endpoint: String?
    @Option(help: "Only this event type.") var event: String?
    @Option(help: "Only this reason (exhausted, gone, rejected, malformed, …).") var reason: String?
    @Option(help: ArgumentHelp("Only deaths at or after: ISO 8601 time, epoch milliseconds, or an age like 2h.", valueName: "time"))
    var since: String?
    @Option(help: ArgumentHelp("Only deaths before: ISO 8601 time, epoch milliseconds, or an age like 30m.", valueName: "time"))
    var until: String?

    func make(ids: [String] = []) throws -> DeadLetterFilter {
        var filter = DeadLetterFilter()
        filter.endpointID = endpoint
        filter.event = event
        filter.reason = reason
        if let since {
            guard let value = TimeText.parse(since) else { throw ValidationError("--since: '\(since)' is not a time") }
            filter.since = value
        }
        if let until {
            guard let value = TimeText.parse(until) else { throw ValidationError("--until: '\(until)' is not a time") }
            filter.until = value
        }
        for id in ids {
            guard let parsed = DeadLetter.ID(id) else { throw ValidationError("--id: '\(id)' is not a dead-letter id like 3-1042") }
            filter.ids.insert(parsed)
        }
        return filter
    }
}

/// One dead letter as JSON (`dlq list --json`, `dlq show --json`).
struct DeadLetterJSON: Encodable {
    var id: String
    var partition: Int32
    var offset: Int64
    var endpoint: String?
    var webhook_id: String?
    var event: String?
    var reason: String?
    var attempts: Int?
    var died_at: String?
    var last_status: Int?
    var last_error: String?
    var re_enqueued_at: String?
    var size: Int
    /// The body's size when the DLQ holds the entry without it.
    var body_omitted: Int?
    var headers: [String: String]?
    var body: String?
    var body_base64: String?

    init(entry: DeadLetter, includeBody: Bool) {
        id = entry.id.description
        partition = entry.id.partition
        offset = entry.id.offset
        endpoint = entry.endpointID
        webhook_id = entry.webhookID
        event = entry.event
        reason = entry.reason
        attempts = entry.attempts
        died_at = entry.diedAt.map { TimeText.format($0) }
        last_status = entry.lastStatus
        last_error = entry.lastError
        re_enqueued_at = entry.replayedAt.map { TimeText.format($0) }
        size = entry.record.value.count
        body_omitted = entry.bodyOmitted
        if includeBody {
            headers = Dictionary(entry.record.headers.map { ($0.key, $0.stringValue ?? "") }, uniquingKeysWith: { first, _ in first })
            if let text = String(validating: entry.record.value, as: UTF8.self) { body = text } else {
                body_base64 = Data(entry.record.value).base64EncodedString()
            }
        }
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Times on the command line: ISO 8601 in UTC for output; ISO 8601, epoch milliseconds or an
/// age (`2h` = two hours ago) for input.
enum TimeText {
    static func format(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000))
    }

    static func parse(_ text: String, now: Date = Date()) -> Int64? {
        if let milliseconds = Int64(text) { return milliseconds }
        if let age = DurationText.parse(text) {
            return Int64(now.timeIntervalSince1970 * 1_000) - Int64(age.components.seconds * 1_000 + age.components.attoseconds / 1_000_000_000_000_000)
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1_000).rounded()) }
        }
        return nil
    }
}

/// Plain text tables with aligned columns.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
