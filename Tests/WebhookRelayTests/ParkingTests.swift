import Synchronization
import Testing
@testable import WebhookRelay

/// Parking at an endpoint's in-flight cap and the worker pool that resumes parked records: no
/// broker, no network.
struct EndpointParkingTests {
    /// Records which parked deliveries were resumed, in order.
    final class Resumed: Sendable {
        let order = Mutex<[Int]>([])
        func closure(_ id: Int) -> @Sendable () -> Void { { self.order.withLock { $0.append(id) } } }
        var ids: [Int] { order.withLock { $0 } }
    }

    func runtime(maxInFlight: Int, policy: EndpointPolicy = EndpointPolicy()) -> EndpointRuntime {
        EndpointRuntime(policy: policy, maxInFlight: maxInFlight)
    }

    func admission(_ decision: EndpointRuntime.Decision) throws -> EndpointRuntime.Admission {
        guard case .attempt(let admission) = decision else {
            Issue.record("expected an attempt, got \(decision)")
            throw CancellationError()
        }
        return admission
    }

    @Test func atTheCapDeliveriesParkAndResumeOnePerFreedSlotInArrivalOrder() async throws {
        let endpoint = runtime(maxInFlight: 2)
        let resumed = Resumed()
        let first = try admission(await endpoint.enter(now: { 0 }, park: resumed.closure(0)))
        _ = try admission(await endpoint.enter(now: { 0 }, park: resumed.closure(1)))
        for id in 2...4 {
            #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(id)) == .parked)
        }
        #expect(endpoint.snapshot.waiting == 3)
        #expect(resumed.ids.isEmpty)

        endpoint.leave(first, .init(success: true, status: 204, now: 5))
        #expect(resumed.ids == [2], "one freed slot resumes the longest parked delivery")
        // The slot is reserved for it: a newcomer parks behind instead of taking it.
        #expect(await endpoint.enter(now: { 5 }, park: resumed.closure(5)) == .parked)
        let second = try admission(await endpoint.enter(now: { 5 }, resumed: true, park: resumed.closure(2)))
        #expect(second.waited)
        #expect(endpoint.snapshot.inFlight == 2)
        #expect(endpoint.snapshot.waiting == 3)

        endpoint.leave(second, .init(success: true, status: 204, now: 6))
        #expect(resumed.ids == [2, 3])
    }

    @Test func anOpeningCircuitResumesEveryParkedDeliveryToGoElsewhere() async throws {
        var policy = EndpointPolicy()
        policy.circuit = CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .seconds(60), successesToClose: 1)
        let endpoint = runtime(maxInFlight: 1, policy: policy)
        let resumed = Resumed()
        let only = try admission(await endpoint.enter(now: { 0 }, park: resumed.closure(0)))
        for id in 1...3 {
            #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(id)) == .parked)
        }
        endpoint.leave(only, .init(success: false, status: 500, now: 10))
        #expect(resumed.ids == [1, 2, 3], "a single wake-up would leave the others parked behind an open circuit")
        for id in 1...3 {
            let decision = await endpoint.enter(now: { 10 }, resumed: true, park: resumed.closure(id))
            #expect(decision == .circuitOpen(.milliseconds(60_000)))
        }
        #expect(endpoint.snapshot.waiting == 0)
        #expect(endpoint.snapshot.inFlight == 0)
    }

    @Test func parkingIsBoundedAndAFastEndpointMayHoldMore() async throws {
        let endpoint = runtime(maxInFlight: 1)
        let resumed = Resumed()
        var current = try admission(await endpoint.enter(now: { 0 }, park: resumed.closure(0)))
        // Unknown pace: at most 4 × max_in_flight parked, the next is deferred.
        for id in 1...4 {
            #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(id)) == .parked)
        }
        #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(99)) == .deferred(.seconds(1)))
        // Attempts of 10 ms: one slot drains 100 a second, so up to 64 × max_in_flight may park.
        var now: Int64 = 0
        for id in 1...4 {
            now += 10
            endpoint.leave(current, .init(success: true, status: 204, now: now))
            #expect(resumed.ids.last == id)
            let time = now
            current = try admission(await endpoint.enter(now: { time }, resumed: true, park: resumed.closure(id)))
        }
        let time = now
        var parked = 0
        while await endpoint.enter(now: { time }, park: resumed.closure(1_000 + parked)) == .parked { parked += 1 }
        #expect(parked == 64)
    }

    @Test func forgettingAPartitionResumesItsParkedDeliveries() async throws {
        let endpoint = runtime(maxInFlight: 1)
        let resumed = Resumed()
        _ = try admission(await endpoint.enter(now: { 0 }, park: resumed.closure(0)))
        #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(1)) == .parked)
        #expect(await endpoint.enter(now: { 0 }, park: resumed.closure(2)) == .parked)
        endpoint.resumeAll()
        #expect(resumed.ids == [1, 2])
        #expect(endpoint.snapshot.waiting == 0)
    }
}

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
