import Foundation
import Testing

@testable import RecDB

/// Refreshes of one model from several threads of one process: one runs, the others are refused with `busy`, and the
/// model never loses or mixes a generation.
@Suite("Concurrent refreshes in one process")
struct ConcurrentRefreshTests {
    /// What the threads of a test saw.
    final class Outcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var _generations: [UInt32] = []
        private var _busy = 0
        private var _failures: [String] = []
        private var _refreshersFinished = 0

        func succeeded(_ generation: UInt32) { locked { _generations.append(generation) } }
        func wasBusy() { locked { _busy += 1 } }
        func fail(_ message: String) { locked { if _failures.count < 20 { _failures.append(message) } } }
        func refresherFinished() { locked { _refreshersFinished += 1 } }
        var refreshersFinished: Int { locked { _refreshersFinished } }
        var generations: [UInt32] { locked { _generations } }
        var busy: Int { locked { _busy } }
        var failures: [String] { locked { _failures } }

        private func locked<R>(_ body: () -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }
    }

    /// Two threads refresh ALS 12 times each while a third opens the database again and again (its clean-up at open
    /// must not take a running refresh's partial generation for an abandoned one) and checks what it reads.
    @Test func twoThreadsRefreshingOneModelNeverCorrupt() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als)
            let outcomes = Outcomes()
            let rounds = 12
            // Real threads (concurrentPerform may run them one after another on two cores); each refresh pauses 5 ms
            // between writing its generation and switching to it, so the two overlap.
            let group = DispatchGroup()
            let body: @Sendable (Int) -> Void = { thread in
                if thread == 2 {
                    while outcomes.refreshersFinished < 2 {
                        do {
                            let other = try RecDatabase.open(at: folder.appending("db"))
                            let problem = try other.read { r in try RefreshTests.problem(in: r, user: "u0").0 }
                            if let problem { outcomes.fail("reader: \(problem)") }
                        } catch {
                            outcomes.fail("reader: \(error)")
                        }
                    }
                    return
                }
                defer { outcomes.refresherFinished() }
                for _ in 0..<rounds {
                    do {
                        let report = try db.refresh(RefreshTests.als) { step in
                            if step.hasPrefix("switching") { usleep(5_000) }
                        }
                        outcomes.succeeded(report.record.generation)
                    } catch let error as RecDBError where error.code == .busy {
                        if !error.message.contains("model 'als'") || !error.message.contains("refresh:als") {
                            outcomes.fail("a busy error that does not name the model and its job: \(error)")
                        }
                        outcomes.wasBusy()
                    } catch {
                        outcomes.fail("refresh: \(error)")
                    }
                }
            }
            for thread in 0..<3 {
                group.enter()
                Thread {
                    body(thread)
                    group.leave()
                }.start()
            }
            group.wait()
            #expect(outcomes.failures == [])
            let generations = outcomes.generations
            print("two threads × \(rounds) refreshes: \(generations.count) finished, \(outcomes.busy) refused busy")
            #expect(generations.count + outcomes.busy == 2 * rounds)
            #expect(!generations.isEmpty && outcomes.busy > 0, "the refreshes never overlapped")
            // Each finished refresh made the next generation: in the order they finished, no number twice.
            #expect(generations == Array(2..<UInt32(2 + generations.count)), "\(generations)")
            let last = generations.last ?? 1
            let record = try #require(try db.model("als"))
            #expect(record.generation == last && record.space == "als@\(last)")
            // No orphan data: one space, model data of the active generation only, no lease left.
            #expect(try db.spaces().map(\.name) == ["als@\(last)"])
            #expect(try RefreshTests.dataGenerations(db) == ["als": [last]])
            try db.read { r throws in
                #expect(try RefreshTests.problem(in: r, user: "u6").0 == nil)
                #expect(try r.schema.meta.get(RecDatabase.jobKey(RecDatabase.refreshJob("als")), in: r.txn) == nil)
            }
            #expect(try db.checkIntegrity() == [])
            #expect(try db.environment.verifyFile().isSound)
        }
    }

    /// While a refresh is between writing generation 2 and switching to it: a second refresh is refused with `busy`
    /// naming the model and the job; opening the database again keeps `als@2`; the first refresh then completes.
    @Test func aRunningRefreshRefusesASecondAndKeepsItsGenerationThroughAnOpen() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als)
            let writing = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0)
            let finished = DispatchSemaphore(value: 0)
            let outcomes = Outcomes()
            Thread {
                do {
                    let report = try db.refresh(RefreshTests.als) { step in
                        guard step.hasPrefix("switching") else { return }
                        writing.signal()
                        proceed.wait()
                    }
                    outcomes.succeeded(report.record.generation)
                } catch {
                    outcomes.fail("\(error)")
                }
                finished.signal()
            }.start()
            #expect(writing.wait(timeout: .now() + 60) == .success)

            let error = #expect(throws: RecDBError.self) { try db.refresh(RefreshTests.als) }
            #expect(error?.code == .busy)
            #expect(error?.message.contains("model 'als'") == true && error?.message.contains("refresh:als") == true)
            let other = try RecDatabase.open(at: folder.appending("db"))
            let error2 = #expect(throws: RecDBError.self) { try other.refresh(RefreshTests.als) }
            #expect(error2?.code == .busy)
            #expect(Set(try other.spaces().map(\.name)) == ["als@1", "als@2"])

            proceed.signal()
            #expect(finished.wait(timeout: .now() + 60) == .success)
            #expect(outcomes.failures == [] && outcomes.generations == [2])
            #expect(try db.spaces().map(\.name) == ["als@2"])
            try db.read { r throws in #expect(try RefreshTests.problem(in: r, user: "u0").0 == nil) }
            // The job is free again.
            #expect(try db.refresh(RefreshTests.als).record.generation == 3)
            #expect(try db.checkIntegrity() == [])
        }
    }
}
