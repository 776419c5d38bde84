import Dispatch
import Foundation
import RecClient
import Testing

/// `STATUS` counters are kept under one lock: after concurrent clients finish, they add up exactly.
@Suite("recd STATUS counters", .serialized)
struct StatusCounterTests {
    @Test func countersAddUpUnderConcurrentClients() throws {
        let daemon = try Daemon()
        let socket = daemon.socket
        let observer = try daemon.client()
        // The harness's readiness probe connected just before; its accept may be counted a moment later, so the
        // baseline is taken once the count holds still.
        var before = try #require(try observer.querySync("STATUS") as? [String: Any])
        for _ in 0..<50 {
            usleep(20_000)
            let again = try #require(try observer.querySync("STATUS") as? [String: Any])
            defer { before = again }
            if again["connections_accepted"] as? Int == before["connections_accepted"] as? Int { break }
        }
        let clients = 12, requestsEach = 30
        let failures = Counter(), writes = Counter()
        DispatchQueue.concurrentPerform(iterations: clients) { worker in
            guard let client = try? RecClient(socketPath: socket) else { return failures.add() }
            for n in 0..<requestsEach {
                do {
                    if n % 3 == 0 {
                        _ = try client.querySync("EVENT view USER $u ITEM 'c2'", parameters: ["u": "s\(worker)-\(n)"])
                        writes.add()
                    } else if n % 3 == 1 {
                        _ = try client.querySync("RECOMMEND 3 ITEMS FOR USER $u", parameters: ["u": "u\((worker + n) % 30)"])
                    } else {
                        _ = try client.querySync("STATUS")
                    }
                } catch {
                    failures.add()
                }
            }
        }
        #expect(failures.value == 0)
        let after = try #require(try observer.querySync("STATUS") as? [String: Any])
        func delta(_ key: String) -> Int? {
            guard let old = before[key] as? Int, let new = after[key] as? Int else { return nil }
            return new - old
        }
        // The observer's first STATUS finished after it answered, so it is counted in `after` too.
        #expect(delta("requests_served") == clients * requestsEach + 1, "\(before) → \(after)")
        #expect(delta("connections_accepted") == clients, "\(before) → \(after)")
        #expect(delta("writes_committed") == writes.value, "\(before) → \(after)")
        #expect(after["requests_in_flight"] as? Int == 1, "only this STATUS runs: \(after)")
        #expect(after["heavy_in_flight"] as? Int == 0)
        #expect((delta("write_batches") ?? 0) >= 1 && (delta("write_batches") ?? 0) <= writes.value)
    }
}
