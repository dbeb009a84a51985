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
}
