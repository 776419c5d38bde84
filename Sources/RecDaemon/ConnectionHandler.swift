import Foundation
import NIOCore
import RecDB

/// One client connection: parses each request line, checks the peer's role, runs the request (light reads on its
/// event loop or the reader pool, as `--light-reads` says; heavy reads on their own bounded lane, writes through the group commit writer, admin statements on
/// the admin queue) under a deadline, and writes the responses back in request order, however the work finishes.
///
/// A client that closes its sending side (`shutdown(SHUT_WR)`, `echo … | socat`) still gets every answer; the
/// connection closes once the last one is written. A client that disconnects cancels its running reads. Reading
/// pauses while a client does not read its responses (or pipelines too deep), so a slow client costs only its own
/// buffers.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RequestLine
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var peer: PeerCredentials?
    private var role: Role = .none
    private var nextSequence = 0
    private var nextToWrite = 0
    private var finished: [Int: [UInt8]] = [:]
    /// Controls of the requests still running, by sequence.
    private var running: [Int: RequestControl] = [:]
    private var paused = false
    /// The client closed its sending side: close once every answer is written.
    private var inputClosed = false
    private var lastWrite: EventLoopFuture<Void>?
    /// The commit of this connection's latest write, while it is pending: a later read waits for it, so a client
    /// reads its own writes even when it pipelines them.
    private var pendingWrite: EventLoopFuture<QueryValue>?
    /// The latest write's hand-over to the writer (after its text is encoded): the next write is handed over after it.
    private var lastSubmission: EventLoopFuture<Void>?
    /// Since when (uptime nanoseconds) the client has had no answer owed: it connected or got its last one. Light
    /// reads are served in order of how long their client has waited (``InlineReadQueue``).
    private var idleSince = DispatchTime.now().uptimeNanoseconds

    init(server: ServerContext) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        // On the channel's own event loop the option is read at once.
        if let provider = context.channel as? SocketOptionProvider {
            let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            role = server.policy.roles.role(of: nil)
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            future.whenSuccess { credentials in
                handler.value.peer = credentials
                handler.value.role = handler.value.server.policy.roles.role(of: credentials)
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.unregister(context.channel)
        // Nobody is left to answer: stop the reads still running.
        for control in running.values { control.cancel() }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            closeIfDone(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line: [UInt8]
        let frame = unwrapInboundIn(data)
        if case .unterminated = frame, !context.channel.isActive {
            // The last line had no newline and the client is gone: a fragment of a request, never run.
            return
        }
        let started = DispatchTime.now().uptimeNanoseconds
        // A request pipelined behind others has waited since it was read; the first one since the last answer.
        let waitingSince = nextSequence == nextToWrite ? idleSince : started
        let sequence = begin()
        guard server.requestStarted() else {
            let failure = RecDBError(.shuttingDown, "the server is shutting down")
            return complete(sequence, Wire.failure(id: "null", failure), context: context)
        }
        switch frame {
        case .line(let bytes), .unterminated(let bytes):
            line = bytes
        case .oversize(let length):
            let failure = RecDBError(
                .tooLarge, "the request line has \(length) bytes; the limit is \(server.policy.maxLineLength)")
            return complete(sequence, Wire.failure(id: "null", failure), context: context)
        }
        let request: Wire.Request
        do {
            request = try Wire.request(line)
        } catch {
            return complete(sequence, Wire.failure(id: "null", error), context: context)
        }
        if Self.isStatus(request.query) {
            let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
            let status = server.status(role: role)
            server.metrics.requestFinished(verb: "status", nanoseconds: UInt64(elapsed) * 1000, failed: false)
            return complete(sequence, Wire.success(id: request.id, result: status, tookMicroseconds: elapsed), context: context)
        }
        let control = RequestControl(timeout: server.policy.readDeadline)
        running[sequence] = control
        let result = run(
            request, control: control, eventLoop: context.eventLoop, started: started, waitingSince: waitingSince)
        // `result` completes on this channel's event loop, where the handler and its context live.
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        result.whenComplete { outcome in
            let (handler, context) = bound.value
            handler.running[sequence] = nil
            let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
            let text: [UInt8]
            switch outcome {
            case .success(let value): text = Wire.success(id: request.id, result: value, tookMicroseconds: elapsed)
            case .failure(let error): text = Wire.failure(id: request.id, error)
            }
            handler.complete(sequence, text, context: context)
        }
        applyBackpressure(context: context)
    }

    /// Whether the query is `STATUS` (any case, blanks around it), without building new strings.
    static func isStatus(_ query: String) -> Bool {
        let utf8 = query.utf8
        guard utf8.count <= 64 else { return false }
        let trimmed = utf8.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        return trimmed.count == 6 && zip(trimmed.reversed(), "STATUS".utf8).allSatisfy { $0 & 0xDF == $1 }
    }

    /// Numbers a request; its answer is written in this order.
    private func begin() -> Int {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// Prepares, authorises and runs one request on the lane its kind and cost call for.
    private func run(
        _ request: Wire.Request, control: RequestControl, eventLoop: EventLoop, started: UInt64, waitingSince: UInt64
    ) -> EventLoopFuture<QueryValue> {
        let server = self.server
        let role = self.role
        let (query, parameters, minSequence) = (request.query, request.parameters, request.minSequence)
        // Short statements are parsed here (microseconds); long ones on the reader pool.
        let prepared: EventLoopFuture<Statement>
        if request.query.utf8.count <= 4096 {
            do {
                prepared = eventLoop.makeSucceededFuture(
                    try server.database.prepare(request.query, parameters: request.parameters, limits: server.policy.limits))
            } catch {
                prepared = eventLoop.makeFailedFuture(error)
            }
        } else {
            prepared = server.readers.runIfActive(eventLoop: eventLoop) {
                try server.database.prepare(request.query, parameters: request.parameters, limits: server.policy.limits)
            }
        }
        // The futures below complete on this channel's event loop, where the handler lives.
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        prepared.whenFailure { _ in
            let nanoseconds = DispatchTime.now().uptimeNanoseconds - started
            server.metrics.requestFinished(verb: "invalid", nanoseconds: nanoseconds, failed: true)
        }
        return prepared.flatMap { statement -> EventLoopFuture<QueryValue> in
            let answer = handler.value.dispatch(
                statement, query: query, parameters: parameters, minSequence: minSequence, role: role,
                control: control, eventLoop: eventLoop, waitingSince: waitingSince)
            answer.whenComplete { outcome in
                let nanoseconds = DispatchTime.now().uptimeNanoseconds - started
                let failed = if case .failure = outcome { true } else { false }
                server.metrics.requestFinished(verb: statement.verb, nanoseconds: nanoseconds, failed: failed)
            }
            return answer
        }
    }

    /// Runs a prepared statement on the lane its kind and cost call for, once the peer's role allows it.
    /// On a replicated node a write (and `REFRESH`) is published to the log and answered once applied here; a read
    /// with `minSequence` waits until this node has applied that stream sequence.
    private func dispatch(
        _ statement: Statement, query: String, parameters: [String: QueryValue], minSequence: UInt64?, role: Role,
        control: RequestControl, eventLoop: EventLoop, waitingSince: UInt64
    ) -> EventLoopFuture<QueryValue> {
        let server = self.server
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        do {
            try server.authorize(statement, role: role, who: peer.map { "uid \($0.uid)" } ?? "an unknown peer")
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        switch statement.kind {
        case .read:
            var before = handler.value.pendingWrite.map { $0.map { _ in () }.recover { _ in () } }
            if let sequence = minSequence, let replica = server.replica {
                // Read-your-writes across nodes: wait until this node has applied the client's write.
                let applied = replica.waitForSequence(sequence, deadline: server.policy.readDeadline, on: eventLoop)
                before = before.map { $0.flatMap { applied } } ?? applied
            }
            guard let before else {
                return Self.read(
                    statement, control: control, server: server, eventLoop: eventLoop, waitingSince: waitingSince)
            }
            return before.flatMap { Self.read(statement, control: control, server: server, eventLoop: eventLoop) }
        case .write where server.replica != nil, .admin where server.replica != nil && statement.isRefresh:
            // Replicated: published to the log in this connection's order, answered once acknowledged and applied
            // here (see ``Replica``).
            let replica = server.replica!
            let published = (self.lastSubmission ?? eventLoop.makeSucceededVoidFuture()).map {
                replica.publish(query, parameters: parameters, on: eventLoop)
            }
            self.lastSubmission = published.map { _ in () }
            let future = published.flatMap { $0 }
            handler.value.pendingWrite = future
            future.whenComplete { _ in
                if handler.value.pendingWrite === future { handler.value.pendingWrite = nil }
            }
            return future
        case .write:
            // A write waits only for the commit; it is not stopped once queued. Its text is encoded on the reader
            // pool first, and writes reach the writer in the order they came.
            let promise = eventLoop.makePromise(of: QueryValue.self)
            let prepared: EventLoopFuture<PreparedStatement> =
                statement.needsModelInputs
                ? server.readers.runIfActive(eventLoop: eventLoop) {
                    try server.database.prepareModelInputs(for: statement)
                }
                : eventLoop.makeSucceededFuture(PreparedStatement(statement))
            let submitted = (self.lastSubmission ?? eventLoop.makeSucceededVoidFuture()).flatMap { prepared }
                .map { server.writer.submit($0, promise: promise) }
            submitted.whenFailure { promise.fail($0) }
            self.lastSubmission = submitted.recover { _ in () }
            let future = promise.futureResult
            handler.value.pendingWrite = future
            future.whenComplete { _ in
                if handler.value.pendingWrite === future { handler.value.pendingWrite = nil }
            }
            return future
        case .admin:
            // Admin jobs run to completion whether or not their client stays, with no deadline; shutdown cancels
            // them.
            let job = RequestControl()
            server.track(job)
            let promise = eventLoop.makePromise(of: QueryValue.self)
            server.adminQueue.async {
                defer { server.untrack(job) }
                do {
                    let value = try server.database.execute(statement, control: job)
                    if statement.verb == "refresh", let model = value["model"]?.stringValue,
                        let seconds = value["seconds"]?.numberValue
                    {
                        server.metrics.refreshFinished(model: model, seconds: seconds)
                    }
                    promise.succeed(value)
                } catch {
                    promise.fail(error)
                }
            }
            return promise.futureResult
        }
    }

    /// A light read inline on the event loop (or on the reader pool), or on the heavy lane when it may take long
    /// (answered `busy` when that is full). The HTTP side's queries run here too. Inline reads asked on their event
    /// loop run after its I/O, longest-waiting client first (`waitingSince`, uptime nanoseconds; now when nil).
    static func read(
        _ statement: Statement, control: RequestControl, server: ServerContext, eventLoop: EventLoop,
        waitingSince: UInt64? = nil
    ) -> EventLoopFuture<QueryValue> {
        server.track(control)
        let work: EventLoopFuture<QueryValue>
        if statement.cost == .heavy {
            guard server.enterHeavyLane() else {
                server.untrack(control)
                return eventLoop.makeFailedFuture(
                    RecDBError(
                        .busy,
                        "\(server.policy.heavyQueueLimit) slow requests (language model, encoder, large blends) are already queued; try again shortly"
                    ))
            }
            work = server.heavyReaders.runIfActive(eventLoop: eventLoop) {
                defer { server.leaveHeavyLane() }
                return try server.database.execute(statement, control: control)
            }
        } else if server.policy.lightReads == .inline, eventLoop.inEventLoop {
            // On this event loop, after its I/O, oldest first: the answer is written without a hop to another
            // thread and back.
            let promise = eventLoop.makePromise(of: QueryValue.self)
            let since = waitingSince ?? DispatchTime.now().uptimeNanoseconds
            InlineReadQueue.current(on: eventLoop).enqueue(waitingSince: since) {
                do {
                    promise.succeed(try server.database.execute(statement, control: control))
                } catch {
                    promise.fail(error)
                }
            }
            work = promise.futureResult
        } else if server.policy.lightReads == .inline {
            // Asked off the event loop (the HTTP side): run here, at once.
            do {
                work = eventLoop.makeSucceededFuture(try server.database.execute(statement, control: control))
            } catch {
                work = eventLoop.makeFailedFuture(error)
            }
        } else {
            work = server.readers.runIfActive(eventLoop: eventLoop) {
                try server.database.execute(statement, control: control)
            }
        }
        work.whenComplete { _ in server.untrack(control) }
        return work
    }

    /// Records a finished response and writes every response that is next in order.
    private func complete(_ sequence: Int, _ text: [UInt8], context: ChannelHandlerContext) {
        finished[sequence] = text
        var wrote = false
        while let next = finished.removeValue(forKey: nextToWrite) {
            var buffer = context.channel.allocator.buffer(capacity: next.count + 1)
            buffer.writeBytes(next)
            buffer.writeInteger(UInt8(ascii: "\n"))
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(buffer), promise: promise)
            lastWrite = promise.futureResult
            nextToWrite += 1
            server.requestFinished()
            wrote = true
        }
        if wrote { context.flush() }
        if nextToWrite == nextSequence { idleSince = DispatchTime.now().uptimeNanoseconds }
        applyBackpressure(context: context)
        closeIfDone(context: context)
    }

    /// After a half-close, closes the connection once every request has been answered and written.
    private func closeIfDone(context: ChannelHandlerContext) {
        guard inputClosed, nextToWrite == nextSequence else { return }
        inputClosed = false
        if let lastWrite {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            lastWrite.whenComplete { _ in context.value.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        applyBackpressure(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Pauses reading while too many requests are in flight or the client is not taking its responses.
    private func applyBackpressure(context: ChannelHandlerContext) {
        let busy = nextSequence - nextToWrite >= server.policy.maxPipelined || !context.channel.isWritable
        guard busy != paused, !inputClosed else { return }
        paused = busy
        _ = context.channel.setOption(ChannelOptions.autoRead, value: !busy)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.debug("connection error: \(error)")
        context.close(promise: nil)
    }
}

/// Answers a connection over the limit with one error line and closes it.
final class RejectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let message: String

    init(message: String) {
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        let code: RecDBError.Code = message.contains("shutting down") ? .shuttingDown : .tooManyConnections
        let text = Wire.failure(id: "null", RecDBError(code, message))
        var buffer = context.channel.allocator.buffer(capacity: text.count + 1)
        buffer.writeBytes(text)
        buffer.writeInteger(UInt8(ascii: "\n"))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
