import Foundation
import Synchronization

/// One long job (a model refresh, an index build) running in this process, as ``JobRegistry`` knows it.
struct JobTicket: Sendable, Equatable {
    /// Unique in the process: only the ticket that claimed a job releases it.
    let id: UInt64
    /// The database folder (one ``Environment`` per folder per process).
    let path: String
    /// The job's name, as in its lease (`refresh:als`, `index:als@3:items`).
    let name: String
    let started: Date
}

/// The long jobs running in this process, at most one per job name and database: the in-process half of the job
/// guard, beside the cross-process lease in `meta` (`JobLease.swift`).
///
/// The lease records a process id, so it cannot tell two jobs of one process apart: without this registry an admin
/// `REFRESH` and recd's refresh scheduler (or two threads of an app) would both write generation g+1 of one model,
/// the second dropping what the first had written, and both would delete the lease. A second job of the same name
/// does not wait for the first (a refresh may take minutes): it fails at once with ``RecDBError/Code/busy``, naming
/// what is busy and the job that runs. Keyed by the database folder, so every ``RecDatabase`` opened on one folder in
/// the process shares it (their ``Environment`` is one).
final class JobRegistry: Sendable {
    /// The registry of this process.
    static let shared = JobRegistry()

    private let running = Mutex<[String: JobTicket]>([:])
    private let nextID = Atomic<UInt64>(1)

    private static func key(_ path: String, _ name: String) -> String { path + "\u{0}" + name }

    /// Claims job `name` on the database in `path`; throws `busy` when this process already runs it.
    func claim(_ name: String, path: String) throws -> JobTicket {
        let ticket = JobTicket(
            id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, path: path, name: name, started: Date())
        let holder: JobTicket? = running.withLock { jobs in
            if let holder = jobs[Self.key(path, name)] { return holder }
            jobs[Self.key(path, name)] = ticket
            return nil
        }
        if let holder {
            let seconds = Int(Date().timeIntervalSince(holder.started).rounded())
            throw RecDBError(
                .busy,
                "\(Self.subject(of: name)) is busy: job \(name) has been running in this process for \(seconds) s; "
                    + "try again when it has finished", location: path)
        }
        return ticket
    }

    /// Releases a claim; a ticket that no longer holds its job (never the case for a caller that claimed) changes
    /// nothing.
    func release(_ ticket: JobTicket) {
        running.withLock { jobs in
            if jobs[Self.key(ticket.path, ticket.name)]?.id == ticket.id { jobs[Self.key(ticket.path, ticket.name)] = nil }
        }
    }

    /// Whether this process runs job `name` on the database in `path`, under a ticket other than `except`.
    func isRunning(_ name: String, path: String, except: JobTicket? = nil) -> Bool {
        running.withLock { jobs in
            guard let holder = jobs[Self.key(path, name)] else { return false }
            return holder.id != except?.id
        }
    }

    /// What a job works on, for messages: "model 'als'", "the items index of space 'als@3'".
    static func subject(of job: String) -> String {
        let parts = job.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return "job '\(job)'" }
        switch parts[0] {
        case "refresh":
            return "model '\(parts[1])'"
        case "index":
            if let colon = parts[1].lastIndex(of: ":") {
                return "the \(parts[1][parts[1].index(after: colon)...]) index of space '\(parts[1][..<colon])'"
            }
            return "the index of space '\(parts[1])'"
        default:
            return "job '\(job)'"
        }
    }
}
