import Synchronization
import Testing
@testable import WebhookRelay

/// The worker pool that runs attempts and writes: no broker, no network.
struct WorkerPoolTests {
    @Test func submittedItemsGoToIdleWorkersOrQueueAndResumedOnesGoFirst() async {
        let pool = WorkerPool<Int>(workers: 1)
        pool.submit(1)
        pool.submit(2)
        #expect(pool.idleWorkers == 0)
        pool.resume(3)
        #expect(await pool.next() == 3, "resumed items are served before submitted ones")
        #expect(await pool.next() == 1)
        #expect(await pool.next() == 2)
        pool.close()
        #expect(await pool.next() == nil)
    }

    @Test func anIdleWorkerIsHandedTheNextItemAndEndsOnClose() async {
        let pool = WorkerPool<Int>(workers: 1)
        pool.submit(1)
        let worker = Task { () -> [Int] in
            var taken: [Int] = []
            while let item = await pool.next() { taken.append(item) }
            return taken
        }
        while pool.idleWorkers == 0 { await Task.yield() }
        pool.submit(2)
        #expect(pool.idleWorkers == 0, "handed to the idle worker")
        pool.close()
        #expect(await worker.value == [1, 2])
    }

    @Test func aFeederWaitsForAWorkerThatNoQueuedItemHasWokenYet() async {
        let pool = WorkerPool<Int>(workers: 1)
        let fed = Atomic<Int>(0)
        let feeder = Task {
            await pool.waitForIdleWorker()
            fed.store(1, ordering: .relaxed)
        }
        try? await Task.sleep(for: .milliseconds(20))
        #expect(fed.load(ordering: .relaxed) == 0, "no worker waits yet")
        let worker = Task { () -> Int? in await pool.next() }
        await feeder.value
        #expect(fed.load(ordering: .relaxed) == 1, "a worker waiting wakes the feeder")
        pool.submit(7)
        #expect(pool.idleWorkers == 0, "the item took the idle worker")
        let second = Task { await pool.waitForIdleWorker() }
        try? await Task.sleep(for: .milliseconds(20))
        #expect(await worker.value == 7)
        pool.close()
        await second.value
    }
}
