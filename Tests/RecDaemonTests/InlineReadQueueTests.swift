import NIOCore
import NIOPosix
import Testing

@testable import RecDaemon

/// The order an event loop serves its inline reads in: longest-waiting client first, arrival order on ties.
@Suite("recd inline read queue")
struct InlineReadQueueTests {
    /// Runs `enqueued` (waiting-since times) through one loop's queue in one wake-up; the order they ran in.
    private func servedOrder(_ enqueued: [UInt64]) throws -> [Int] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        return try loop.flatSubmit { () -> EventLoopFuture<[Int]> in
            let served = NIOLoopBoundBox([Int](), eventLoop: loop)
            let queue = InlineReadQueue.current(on: loop)
            for (index, since) in enqueued.enumerated() {
                queue.enqueue(waitingSince: since) { served.value.append(index) }
            }
            // Tasks run in order: this one after the queue's drain.
            let promise = loop.makePromise(of: [Int].self)
            loop.execute { promise.succeed(served.value) }
            return promise.futureResult
        }.wait()
    }

    /// A client that missed the last wake-up (it has waited longest) is served first, not in the order it was read.
    @Test func theLongestWaitingClientIsServedFirst() throws {
        #expect(try servedOrder([300, 100, 200]) == [1, 2, 0])
    }

    /// Equal waiting times keep the order the requests were read in (one connection's pipelined requests too).
    @Test func tiesKeepTheReadOrder() throws {
        #expect(try servedOrder([50, 50, 10, 50]) == [2, 0, 1, 3])
    }
}
