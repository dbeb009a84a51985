import Foundation
import Kafka
import Logging
import Testing

/// `webhook-relay broker` as a separate process, used by this test process over the Kafka protocol.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BrokerCommandTests {
    @Test func brokerProcessServesProduceAndConsumeAndExitsZeroOnSIGTERM() async throws {
        let process = Process()
        process.executableURL = try WebhookRelayBinary.url()
        process.arguments = ["broker", "--brokers", "2", "--topic", "cli-topic:3", "--log-level", "warning"]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line on stdout is the bootstrap list.
        let bootstrap = try ProcessRunner.firstLine(of: stdout.fileHandleForReading)
        #expect(bootstrap.split(separator: ",").count == 2)
        #expect(bootstrap.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })

        var logger = Logger(label: "cli-tests")
        logger.logLevel = .warning
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        producerConfiguration.linger = .milliseconds(1)
        let reports = try await KafkaProducer.withProducer(configuration: producerConfiguration, logger: logger) { producer in
            var reports: [KafkaDeliveryReport] = []
            for index in 0..<30 {
                reports.append(try await producer.send(
                    KafkaProducerRecord(topic: "cli-topic", key: Array("k\(index)".utf8), value: Array("v\(index)".utf8))
                ))
            }
            return reports
        }
        // --topic created 3 partitions (an auto-created topic would have 4).
        #expect(Set(reports.map(\.partition)).isSubset(of: [0, 1, 2]))

        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "cli-group")
        consumerConfiguration.sessionTimeout = .seconds(4)
        let values = try await KafkaConsumer.withConsumer(
            configuration: consumerConfiguration, topics: ["cli-topic"], logger: logger
        ) { consumer in
            var values = Set<String>()
            for await record in consumer.records {
                values.insert(String(decoding: record.value, as: UTF8.self))
                if values.count == 30 { break }
            }
            return values
        }
        #expect(values == Set((0..<30).map { "v\($0)" }))

        process.terminate()  // SIGTERM
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }

    @Test func brokerHelpSaysItIsForDevelopmentAndTests() throws {
        let result = try ProcessRunner.run(["broker", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("FOR DEVELOPMENT AND TESTS ONLY"))
        #expect(result.stdout.contains("5 MiB"))
    }

    @Test func badTopicSpecFailsFastNamingTheProblem() throws {
        let result = try ProcessRunner.run(["broker", "--topic", "nopartitions"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--topic"))
    }
}
