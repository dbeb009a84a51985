import Dispatch
import Foundation
import Testing

@testable import Kafka

/// What wakes the poll thread when a partition's queue gets records, without a broker: the marks
/// librdkafka's threads make through the queues' event callbacks.
struct PartitionQueueReadinessTests {
    typealias Readiness = RDKafkaPartitionQueues.Readiness

    @Test func marksComeBackOnceEachInTheOrderTheyWereMade() {
        let readiness = Readiness()
        readiness.mark(3)
        readiness.mark(1)
        readiness.mark(3)
        readiness.mark(Readiness.consumerQueue)
        let ready = readiness.take(waitingUpTo: .milliseconds(10))
        #expect(ready.partitions == [3, 1])
        #expect(ready.consumer)
        let next = readiness.take(waitingUpTo: .milliseconds(10))
        #expect(next.partitions.isEmpty)
        #expect(!next.consumer)
    }

    @Test func aQueueMarkedAgainAfterItsTakeComesBackAgain() {
        let readiness = Readiness()
        readiness.mark(0)
        #expect(readiness.take(waitingUpTo: .milliseconds(10)).partitions == [0])
        // The poll thread read the queue; librdkafka enqueued on it afterwards.
        readiness.mark(0)
        #expect(readiness.take(waitingUpTo: .milliseconds(10)).partitions == [0])
    }

    @Test func aWaitingTakeIsWokenByAMarkFromAnotherThread() {
        let readiness = Readiness()
        let marked = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.05)
            readiness.mark(7)
            marked.signal()
        }
        let ready = readiness.take(waitingUpTo: .seconds(30))
        #expect(ready.partitions == [7])
        marked.wait()
    }

    /// A mark made while nobody waits leaves no wake-up behind: the take after the one that
    /// returned it waits out its time (a left-over signal would end it at once).
    @Test func aMarkWithoutAWaiterLeavesNoWakeUpBehind() {
        let readiness = Readiness()
        readiness.mark(2)
        #expect(readiness.take(waitingUpTo: .milliseconds(10)).partitions == [2])
        let started = DispatchTime.now().uptimeNanoseconds
        let ready = readiness.take(waitingUpTo: .milliseconds(50))
        #expect(ready.partitions.isEmpty)
        #expect(DispatchTime.now().uptimeNanoseconds - started >= 50_000_000)
    }

    /// Waits that time out leave no wake-up behind either, and the next mark is still seen.
    @Test func timedOutWaitsLoseNoMark() {
        let readiness = Readiness()
        for _ in 0..<3 { #expect(readiness.take(waitingUpTo: .milliseconds(1)).partitions.isEmpty) }
        readiness.mark(5)
        #expect(readiness.take(waitingUpTo: .milliseconds(10)).partitions == [5])
        let started = DispatchTime.now().uptimeNanoseconds
        #expect(readiness.take(waitingUpTo: .milliseconds(30)).partitions.isEmpty)
        #expect(DispatchTime.now().uptimeNanoseconds - started >= 30_000_000)
    }
}
