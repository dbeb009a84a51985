import Kafka
import Testing

/// Property values never reach error messages, credential-named properties are known, and topic
/// configuration is asked for without hanging where the brokers cannot answer.
@Suite(.timeLimit(.minutes(1)))
struct KafkaPropertyTests {
    /// The embedded broker has no DescribeConfigs: the request fails within its timeout (the
    /// relay then logs that it could not check the topics' size limits), it does not hang.
    @Test func describingTopicsFailsPromptlyWhereTheBrokersCannot() async throws {
        try await EmbeddedBroker.withBroker(topics: ["described": 1], logger: KafkaTestSupport.logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: KafkaTestSupport.logger) { producer in
                let clock = ContinuousClock()
                let started = clock.now
                await #expect(throws: KafkaError.self) {
                    _ = try await producer.topicConfigs(["described"], names: ["max.message.bytes"], timeout: .seconds(3))
                }
                #expect(clock.now - started < .seconds(10))
            }
        }
    }

    /// librdkafka quotes a rejected value in its error ("Invalid value "…" for configuration
    /// property"); a credential given to the wrong property was printed that way (issue 15).
    @Test func aRejectedValueIsNotInTheError() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.properties = ["message.timeout.ms": "hunter2-S3CR3T"]
        do {
            _ = try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger)
            Issue.record("the bad value was accepted")
        } catch {
            #expect(error.message.contains("message.timeout.ms"), "\(error)")
            #expect(!error.message.contains("hunter2-S3CR3T") && !"\(error)".contains("hunter2-S3CR3T"), "\(error)")
        }
    }

    @Test func credentialNamesAreSensitiveAndPathsAreNot() {
        for name in ["sasl.password", "ssl.key.password", "ssl.key.pem", "sasl.oauthbearer.config", "sasl.oauthbearer.client.secret",
                     "sasl.jaas.config", "SASL.PASSWORD", "ssl.keystore.password"] {
            #expect(KafkaPropertyNames.isSensitive(name), "\(name)")
        }
        for name in ["ssl.ca.location", "ssl.key.location", "sasl.mechanism", "security.protocol", "ssl.ca.pem", "bootstrap.servers"] {
            #expect(!KafkaPropertyNames.isSensitive(name), "\(name)")
        }
    }
}
