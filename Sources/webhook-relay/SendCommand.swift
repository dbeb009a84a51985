import ArgumentParser
import Foundation
import Kafka
import WebhookRelay

/// `webhook-relay send`: produce deliveries in the record contract.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Produce webhook deliveries, or events to fan out.",
        discussion: """
            One delivery to one endpoint (deliveries topic): the body is read from standard input.
              webhook-relay send --brokers localhost:9092 --endpoint orders --event order.created < body.json
            One event for every endpoint of a tenant subscribed to it (events topic):
              webhook-relay send --brokers localhost:9092 --tenant acme --event order.created < body.json
            (--endpoints a,b narrows it to those endpoints). Many: --jsonl reads one JSON object per line:
              {"endpoint": "orders", "event": "order.created", "id": "msg_1", "body": {...}}
              {"tenant": "acme", "event": "order.created", "endpoints": ["a"], "body": {...}}
            where "body" is any JSON value (sent as its JSON text), or "body_base64" carries raw bytes;
            "id", "content_type" and "endpoints" are optional.
            """
    )

    @OptionGroup var relay: RelayOptions

    @Option(help: ArgumentHelp("The endpoint id (the record key).", valueName: "id"))
    var endpoint: String?

    @Option(help: ArgumentHelp("Publish an event of this tenant to the events topic instead (the record key).", valueName: "tenant"))
    var tenant: String?

    @Option(help: ArgumentHelp("With --tenant: only these of its subscribed endpoints (webhook-endpoints header).", valueName: "id,id"))
    var endpoints: String?

    @Option(help: ArgumentHelp("The event type (webhook-event header).", valueName: "type"))
    var event: String?

    @Option(help: ArgumentHelp("The message id (webhook-id); derived from the record's position when omitted.", valueName: "id"))
    var id: String?

    @Option(help: ArgumentHelp("Content type of the body (default application/json).", valueName: "type"))
    var contentType: String?

    @Flag(help: "Read JSON lines, one delivery each, from standard input.")
    var jsonl = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if jsonl {
            guard endpoint == nil, event == nil, id == nil, tenant == nil, endpoints == nil else {
                throw ValidationError("--jsonl takes endpoint or tenant, event and id from each line; drop the other options")
            }
        } else {
            guard (endpoint == nil) != (tenant == nil) else { throw ValidationError("give one of --endpoint or --tenant (or use --jsonl)") }
            guard (endpoint ?? tenant ?? "").isEmpty == false else { throw ValidationError("--endpoint and --tenant must not be empty") }
            if endpoints != nil && tenant == nil { throw ValidationError("--endpoints goes with --tenant") }
            if let endpoints, endpoints.split(separator: ",", omittingEmptySubsequences: false).contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ValidationError("--endpoints expects endpoint ids separated by commas, none empty")
            }
            guard let event, !event.isEmpty else { throw ValidationError("--event is required (or use --jsonl)") }
            if let id, !DeliveryRecord.isValidID(id) {
                throw ValidationError("--id must be 1-256 characters without '.', spaces or control characters")
            }
        }
    }

    func run() async throws {
        let resolved = try relay.resolve()
        let logger = logging.makeLogger(label: "webhook-relay.send", layers: resolved.layers)
        let topics = resolved.topics
        var configuration = KafkaProducerConfiguration(bootstrapServers: resolved.brokers)
        configuration.properties = resolved.kafkaProperties
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let records: [KafkaProducerRecord]
        if jsonl {
            records = try DeliveryLines.parse(input, topics: topics)
        } else {
            let target: DeliveryLines.Target = tenant.map { .tenant($0, endpoints: endpoints.map { $0.split(separator: ",").map(String.init) }) }
                ?? .endpoint(endpoint ?? "")
            records = [DeliveryLines.record(
                topics: topics, target: target, event: event ?? "", id: id, contentType: contentType, body: Array(input)
            )]
        }
        let reports = try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for record in records { group.addTask { try await producer.send(record) } }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        if let only = reports.first, reports.count == 1, let record = records.first {
            print("sent to \(record.topic) partition \(only.partition) offset \(only.offset)")
        } else {
            let events = records.filter { $0.topic == topics.events }.count
            print("sent \(reports.count - events) deliveries to \(topics.deliveries) and \(events) events to \(topics.events)")
        }
    }
}

/// The JSON-lines input of `send --jsonl`.
enum DeliveryLines {
    /// Who a record is for.
    enum Target {
        /// One endpoint: a delivery.
        case endpoint(String)
        /// A tenant's subscribed endpoints (those named, when given): an event.
        case tenant(String, endpoints: [String]?)
    }

    struct Line: Decodable {
        var endpoint: String?
        var tenant: String?
        var endpoints: [String]?
        var event: String
        var id: String?
        var content_type: String?
        var body: JSONValue?
        var body_base64: String?
    }

    /// Any JSON value, re-encoded as JSON text for the body.
    struct JSONValue: Decodable {
        let text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let value = try container.decode(AnyJSON.self)
            text = String(decoding: try JSONSerialization.data(withJSONObject: value.object, options: [.fragmentsAllowed, .sortedKeys]), as: UTF8.self)
        }
    }

    struct AnyJSON: Decodable {
        let object: Any
        init(from decoder: any Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                var items: [Any] = []
                while !array.isAtEnd { items.append(try array.decode(AnyJSON.self).object) }
                object = items
            } else if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
                var dictionary: [String: Any] = [:]
                for key in keyed.allKeys { dictionary[key.stringValue] = try keyed.decode(AnyJSON.self, forKey: key).object }
                object = dictionary
            } else {
                let single = try decoder.singleValueContainer()
                if single.decodeNil() { object = NSNull() }
                else if let bool = try? single.decode(Bool.self) { object = bool }
                else if let int = try? single.decode(Int64.self) { object = int }
                else if let double = try? single.decode(Double.self) { object = double }
                else { object = try single.decode(String.self) }
            }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func parse(_ data: Data, topics: RelayTopics) throws -> [KafkaProducerRecord] {
        var records: [KafkaProducerRecord] = []
        let decoder = JSONDecoder()
        for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            let parsed: Line
            do {
                parsed = try decoder.decode(Line.self, from: Data(line))
            } catch {
                throw ValidationError("line \(number + 1): not a delivery object with endpoint (or tenant) and event (\(error))")
            }
            let target: Target
            switch (parsed.endpoint, parsed.tenant) {
            case (let endpoint?, nil) where !endpoint.isEmpty && parsed.endpoints == nil: target = .endpoint(endpoint)
            case (nil, let tenant?) where !tenant.isEmpty && parsed.endpoints.map({ !$0.isEmpty && !$0.contains(where: \.isEmpty) }) ?? true:
                target = .tenant(tenant, endpoints: parsed.endpoints)
            default:
                throw ValidationError("line \(number + 1): give a non-empty endpoint or tenant, not both (endpoints, non-empty ids, goes with tenant)")
            }
            if let id = parsed.id, !DeliveryRecord.isValidID(id) {
                throw ValidationError("line \(number + 1): id must be 1-256 characters without '.', spaces or control characters")
            }
            let body: [UInt8]
            if let base64 = parsed.body_base64 {
                guard let data = Data(base64Encoded: base64) else { throw ValidationError("line \(number + 1): body_base64 is not base64") }
                body = Array(data)
            } else {
                body = Array((parsed.body?.text ?? "").utf8)
            }
            records.append(record(topics: topics, target: target, event: parsed.event, id: parsed.id,
                                  contentType: parsed.content_type, body: body))
        }
        return records
    }

    static func record(topics: RelayTopics, target: Target, event: String, id: String?, contentType: String?, body: [UInt8]) -> KafkaProducerRecord {
        var headers = [KafkaHeader(key: RelayHeader.event, value: event)]
        if let id { headers.append(KafkaHeader(key: RelayHeader.id, value: id)) }
        if let contentType { headers.append(KafkaHeader(key: RelayHeader.contentType, value: contentType)) }
        switch target {
        case .endpoint(let endpoint):
            return KafkaProducerRecord(topic: topics.deliveries, key: Array(endpoint.utf8), value: body, headers: headers)
        case .tenant(let tenant, let endpoints):
            if let endpoints { headers.append(KafkaHeader(key: EventRecord.endpointsHeader, value: endpoints.joined(separator: ","))) }
            return KafkaProducerRecord(topic: topics.events, key: Array(tenant.utf8), value: body, headers: headers)
        }
    }
}
