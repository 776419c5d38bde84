import Foundation
import NIOCore
import RecDB

/// One query that came over HTTP (`POST /api/query`, the dashboard's console): read as a wire request, checked
/// against the HTTP side's role, run on the same lanes as a socket request (reads under the read deadline, heavy
/// reads on the bounded heavy lane, writes through the group-commit writer), and answered as the socket answers.
struct HTTPQuery {
    let server: ServerContext
    let role: Role
    /// Where the lanes' futures complete (the HTTP side's own loop).
    let eventLoop: any EventLoop

    /// The wire answer (`{"id":…,"ok":true,"result":…}` or the error shape) to the request `body`.
    func answer(_ body: [UInt8]) async -> [UInt8] {
        let started = DispatchTime.now().uptimeNanoseconds
        var line = body
        while let last = line.last, last == 0x0A || last == 0x0D || last == 0x20 { line.removeLast() }
        let request: Wire.Request
        do {
            request = try Wire.request(line)
        } catch {
            server.metrics.requestFinished(verb: "invalid", nanoseconds: elapsed(since: started), failed: true)
            return Wire.failure(id: "null", error)
        }
        var verb = "invalid"
        do {
            let statement = try server.database.prepare(
                request.query, parameters: request.parameters, limits: server.policy.limits)
            verb = statement.verb
            try server.authorize(statement, role: role, who: "the HTTP side (recd --http-role)")
            let value = try await run(statement)
            server.metrics.requestFinished(verb: verb, nanoseconds: elapsed(since: started), failed: false)
            return Wire.success(
                id: request.id, result: value, tookMicroseconds: Int(elapsed(since: started) / 1000))
        } catch {
            server.metrics.requestFinished(verb: verb, nanoseconds: elapsed(since: started), failed: true)
            return Wire.failure(id: request.id, error)
        }
    }

    private func run(_ statement: Statement) async throws -> QueryValue {
        switch statement.kind {
        case .read:
            let control = RequestControl(timeout: server.policy.readDeadline)
            return try await ConnectionHandler.read(statement, control: control, server: server, eventLoop: eventLoop)
                .get()
        case .write:
            let prepared =
                statement.needsModelInputs
                ? try await server.readers.runIfActive { try server.database.prepareModelInputs(for: statement) }
                : PreparedStatement(statement)
            let promise = eventLoop.makePromise(of: QueryValue.self)
            server.writer.submit(prepared, promise: promise)
            return try await promise.futureResult.get()
        case .admin:
            // `authorize` refuses these: the HTTP side's role is at most `write`.
            throw RecDBError(.permissionDenied, "admin statements are not served over HTTP")
        }
    }

    private func elapsed(since started: UInt64) -> UInt64 { DispatchTime.now().uptimeNanoseconds - started }
}
