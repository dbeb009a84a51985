import NIOCore
import NIOPosix

/// Runs tasks on one of NIO's event loops: the threads that read and write the HTTP connections.
///
/// The attempt workers prefer an event loop, so a worker sends its request from the thread that
/// owns the connection (``WebhookHTTPClient`` opens connections on the caller's loop) and is
/// resumed by the response on that same thread: no hand-off between Swift's concurrency pool and
/// NIO per attempt, each of which is a wake-up and a context switch (BENCHMARKS.md).
///
/// Only HTTP attempts, and the taking and admitting of a worker's next record (no I/O, one record
/// per attempt), may run here. A loop reads its sockets only when it has run every task it has
/// (NIO's `runOneLoopTick` takes tasks until none is ready), and its timers are tasks too: work
/// that arrives from elsewhere at its own pace — records from Kafka being deferred or
/// dead-lettered, broker acknowledgements — kept a loop busy for seconds while answers waited in
/// its sockets, and the attempts' timers then called them timeouts. Writes to Kafka therefore go
/// to the write workers.
final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop of NIO's shared group, the group ``WebhookHTTPClient`` uses.
    static func forSharedLoops() -> [EventLoopTaskExecutor] {
        MultiThreadedEventLoopGroup.singleton.makeIterator().map { EventLoopTaskExecutor(eventLoop: $0) }
    }
}
