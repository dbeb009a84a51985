import Foundation
import Kafka
import Logging
import Testing

/// Work in flight when a rebalance begins: the revocation handler runs before the partitions are
/// unassigned, can still store offsets, and the next owner starts after what was stored.
///
/// The mock cluster refuses offset commits while a group is JOINING or SYNCING (Kafka itself
/// accepts commits from the current generation while preparing a rebalance). A *join*-triggered
/// revocation happens exactly then, so on the mock its commit is refused; a *leave*-triggered one
/// (scale-down, rolling restart) commits while the group is still up. The leave case is tested for
/// "the next owner starts after the in-flight record"; the join cases, for which the mock cannot
/// show that, assert at-least-once (the next owner skips nothing).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RebalanceTests {
    let logger = KafkaTestSupport.logger

    /// A consumer that reads through offset 10 of its partitions, marks 0...9 done and holds 10 in
    /// flight; when revocation starts it finishes the in-flight record and stores 11.
    final class InFlightMember: Sendable {
        let consumer: KafkaConsumer
        let events = Locked<[KafkaRebalanceEvent]>([])
        private let inFlight = Locked<[KafkaTopicPartition: Int64]>([:])

        init(configuration: KafkaConsumerConfiguration, topic: String, logger: Logger) throws {
            let reference = Locked<KafkaConsumer?>(nil)
            let inFlight = self.inFlight
            let events = self.events
            consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger) { event in
                events.withLock { $0.append(event) }
                guard case .revoking(let partitions) = event, let consumer = reference.withLock({ $0 }) else { return }
                for partition in partitions {
                    guard let offset = inFlight.withLock({ $0.removeValue(forKey: partition) }) else { continue }
                    try? await Task.sleep(for: .milliseconds(200))  // the in-flight delivery ends
                    try? consumer.storeOffset(offset + 1, for: partition)
                }
            }
            reference.withLock { $0 = consumer }
        }

        /// Reads `count` records (offsets 0...10 of its partitions), stores 10 and holds 10.
        func readAndHoldOffsetTen(count: Int) async throws {
            let records = await KafkaTestSupport.read(count, from: consumer)
            #expect(records.count == count)
            #expect(records.allSatisfy { $0.offset <= 10 })
            for partition in Set(records.map(\.topicPartition)) {
                try consumer.storeOffset(10, for: partition)
                inFlight.withLock { $0[partition] = 10 }
            }
        }

        var sawRevoking: Bool {
            events.withLock { $0.contains { if case .revoking = $0 { true } else { false } } }
        }
    }

    private func produce(_ broker: EmbeddedBroker, _ topic: String, offsets: Range<Int>, partitions: [Int32]) async throws {
        try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
            for partition in partitions {
                for _ in offsets {
                    _ = try await producer.send(KafkaProducerRecord(topic: topic, partition: partition, value: [1]))
                }
            }
        }
    }

    @Test func rangeAssignorMemberLeavingStoresInFlightWorkForTheNextOwner() async throws {
        try await EmbeddedBroker.withBroker(topics: ["leave": 2], logger: logger) { broker in
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            #expect(configuration.assignmentStrategy == "range")
            let leaving = try InFlightMember(configuration: configuration, topic: "leave", logger: logger)
            let staying = try KafkaConsumer(configuration: configuration, topics: ["leave"], logger: logger)
            let reached = await KafkaTestSupport.eventually { leaving.consumer.assignment.count == 1 && staying.assignment.count == 1 }
            #expect(reached)
            let moving = try #require(leaving.consumer.assignment.first)

            try await produce(broker, "leave", offsets: 0..<11, partitions: [0, 1])
            try await leaving.readAndHoldOffsetTen(count: 11)

            // Revocation begins with offset 10 in flight; the handler finishes and stores it.
            try await leaving.consumer.close(timeout: .seconds(20))
            #expect(leaving.sawRevoking)
            let reached2 = await KafkaTestSupport.eventually { staying.assignment.count == 2 }
            #expect(reached2)

            try await produce(broker, "leave", offsets: 11..<20, partitions: [moving.partition])
            let taken = await KafkaTestSupport.read(9, from: staying) { $0.topicPartition == moving }
            #expect(taken.map(\.offset) == Array(11..<20))
            try await staying.close(timeout: .seconds(20))
        }
    }

    @Test func cooperativeRebalanceOnJoinMovesOnePartitionAndSkipsNothing() async throws {
        try await EmbeddedBroker.withBroker(topics: ["join": 2], logger: logger) { broker in
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.assignmentStrategy = "cooperative-sticky"
            let first = try InFlightMember(configuration: configuration, topic: "join", logger: logger)
            let reached3 = await KafkaTestSupport.eventually { first.consumer.assignment.count == 2 }
            #expect(reached3)
            try await produce(broker, "join", offsets: 0..<11, partitions: [0, 1])
            try await first.readAndHoldOffsetTen(count: 22)

            // A second member joins while offset 10 of both partitions is in flight: only the moving
            // partition is revoked (incrementally); the other keeps flowing to the first member.
            let second = try KafkaConsumer(configuration: configuration, topics: ["join"], logger: logger)
            let reached4 = await KafkaTestSupport.eventually { second.assignment.count == 1 && first.consumer.assignment.count == 1 }
            #expect(reached4)
            #expect(first.sawRevoking)
            let revoked = first.events.withLock { events in
                events.compactMap { if case .revoking(let partitions) = $0 { partitions } else { nil } }.flatMap { $0 }
            }
            #expect(revoked == Array(second.assignment), "only the moving partition was revoked")

            try await produce(broker, "join", offsets: 11..<20, partitions: [0, 1])
            let kept = await KafkaTestSupport.read(9, from: first.consumer)
            #expect(kept.map(\.offset) == Array(11..<20), "the kept partition continues where it was")
            // Whether the mock accepted the commit made during revocation depends on the group's
            // state at that moment; either way the new owner skips nothing.
            let moved = await KafkaTestSupport.read(20, from: second, timeout: .seconds(8))
            let offsets = moved.map(\.offset)
            #expect(offsets.first.map { $0 <= 11 } == true)
            #expect(offsets == Array((offsets.first ?? 0)...19))
            try await second.close(timeout: .seconds(20))
            try await first.consumer.close(timeout: .seconds(20))
        }
    }

    @Test func rangeAssignorRebalanceOnJoinSkipsNothing() async throws {
        try await EmbeddedBroker.withBroker(topics: ["eager": 2], logger: logger) { broker in
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            let first = try InFlightMember(configuration: configuration, topic: "eager", logger: logger)
            let reached5 = await KafkaTestSupport.eventually { first.consumer.assignment.count == 2 }
            #expect(reached5)
            try await produce(broker, "eager", offsets: 0..<11, partitions: [0, 1])
            try await first.readAndHoldOffsetTen(count: 22)

            let second = try KafkaConsumer(configuration: configuration, topics: ["eager"], logger: logger)
            let reached6 = await KafkaTestSupport.eventually { second.assignment.count == 1 && first.consumer.assignment.count == 1 }
            #expect(reached6)
            #expect(first.sawRevoking)

            // Whatever the mock let the first member commit, the next owner resumes at or before
            // the first record not finished, and reads contiguously from there: nothing is skipped.
            try await produce(broker, "eager", offsets: 11..<20, partitions: [0, 1])
            let moved = await KafkaTestSupport.read(20, from: second, timeout: .seconds(8))
            let offsets = moved.map(\.offset)
            #expect(offsets.first.map { $0 <= 11 } == true)
            #expect(offsets.last == 19)
            #expect(offsets == Array((offsets.first ?? 0)...19))
            try await second.close(timeout: .seconds(20))
            try await first.consumer.close(timeout: .seconds(20))
        }
    }
}
