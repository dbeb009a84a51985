import ArgumentParser
import Foundation
import Kafka
import WebhookRelay

/// `webhook-relay send`: produce deliveries in the record contract.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Produce webhook deliveries to the deliveries topic.",
        discussion: """
            One delivery: the body is read from standard input.
              webhook-relay send --brokers localhost:9092 --endpoint orders --event order.created < body.json
            Many: --jsonl reads one JSON object per line from standard input:
              {"endpoint": "orders", "event": "order.created", "id": "msg_1", "body": {...}}
            where "body" is any JSON value (sent as its JSON text), or "body_base64" carries raw bytes;
            "id" and "content_type" are optional.
            """
    )

    @OptionGroup var relay: RelayOptions

    @Option(help: ArgumentHelp("The endpoint id (the record key).", valueName: "id"))
    var endpoint: String?

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
            guard endpoint == nil, event == nil, id == nil else {
                throw ValidationError("--jsonl takes endpoint, event and id from each line; drop --endpoint, --event and --id")
            }
        } else {
            guard let endpoint, !endpoint.isEmpty else { throw ValidationError("--endpoint is required (or use --jsonl)") }
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
            records = try DeliveryLines.parse(input, topic: topics.deliveries)
        } else {
            records = [DeliveryLines.record(
                topic: topics.deliveries, endpoint: endpoint ?? "", event: event ?? "", id: id, contentType: contentType, body: Array(input)
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
        if let only = reports.first, reports.count == 1 {
            print("sent to \(topics.deliveries) partition \(only.partition) offset \(only.offset)")
        } else {
            print("sent \(reports.count) deliveries to \(topics.deliveries)")
        }
    }
}

/// The JSON-lines input of `send --jsonl`.
enum DeliveryLines {
    struct Line: Decodable {
        var endpoint: String
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

    static func parse(_ data: Data, topic: String) throws -> [KafkaProducerRecord] {
        var records: [KafkaProducerRecord] = []
        let decoder = JSONDecoder()
        for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            let parsed: Line
            do {
                parsed = try decoder.decode(Line.self, from: Data(line))
            } catch {
                throw ValidationError("line \(number + 1): not a delivery object with endpoint and event (\(error))")
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
            records.append(record(topic: topic, endpoint: parsed.endpoint, event: parsed.event, id: parsed.id,
                                  contentType: parsed.content_type, body: body))
        }
        return records
    }

    static func record(topic: String, endpoint: String, event: String, id: String?, contentType: String?, body: [UInt8]) -> KafkaProducerRecord {
        var headers = [KafkaHeader(key: RelayHeader.event, value: event)]
        if let id { headers.append(KafkaHeader(key: RelayHeader.id, value: id)) }
        if let contentType { headers.append(KafkaHeader(key: RelayHeader.contentType, value: contentType)) }
        return KafkaProducerRecord(topic: topic, key: Array(endpoint.utf8), value: body, headers: headers)
    }
}
