import Foundation
import NIOCore
import RecDB

/// One client connection: parses each request line, runs it (reads on the reader pool, writes through the group
/// commit writer, admin statements on the admin queue) and writes the responses back in request order, however
/// the work finishes. Stops reading from a client that does not read its responses (or pipelines too deep) until
/// it catches up, so a slow client costs only its own buffers.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RequestLine
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var peerUID: EventLoopFuture<UInt32?>?
    private var nextSequence = 0
    private var nextToWrite = 0
    private var finished: [Int: String] = [:]
    private var paused = false

    init(server: ServerContext) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        if let provider = context.channel as? SocketOptionProvider {
            let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            peerUID = future.map { credentials -> UInt32? in credentials.uid }.recover { _ in nil }
        } else {
            peerUID = context.eventLoop.makeSucceededFuture(nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.unregister(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let sequence = nextSequence
        nextSequence += 1
        server.requestStarted()
        let started = DispatchTime.now().uptimeNanoseconds
        let request: Wire.Request
        switch unwrapInboundIn(data) {
        case .oversize(let length):
            let failure = Wire.Failure(
                code: "too_large",
                message: "the request line has \(length) bytes; the limit is \(server.policy.maxLineLength)", position: nil)
            return complete(sequence, Wire.failure(id: "null", failure), context: context)
        case .line(let bytes):
            do {
                request = try Wire.request(bytes)
            } catch {
                return complete(sequence, Wire.failure(id: "null", Wire.failure(error)), context: context)
            }
        }
        if request.query.trimmingCharacters(in: .whitespaces).uppercased() == "STATUS" {
            let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
            return complete(sequence, Wire.success(id: request.id, result: server.status(), tookMicroseconds: elapsed), context: context)
        }
        let server = self.server
        let eventLoop = context.eventLoop
        // Short statements are parsed here (microseconds); long ones on the reader pool. A read then runs on the
        // pool in one hop; a write goes straight to the writer.
        let prepared: EventLoopFuture<Statement>
        if request.query.utf8.count <= 4096 {
            do {
                prepared = eventLoop.makeSucceededFuture(try server.database.prepare(request.query, parameters: request.parameters))
            } catch {
                prepared = eventLoop.makeFailedFuture(error)
            }
        } else {
            prepared = server.readers.runIfActive(eventLoop: eventLoop) {
                try server.database.prepare(request.query, parameters: request.parameters)
            }
        }
        let peer = peerUID ?? eventLoop.makeSucceededFuture(nil)
        let result = prepared.and(peer).flatMap { statement, uid -> EventLoopFuture<QueryValue> in
            switch statement.kind {
            case .read:
                return server.readers.runIfActive(eventLoop: eventLoop) { try server.database.execute(statement) }
            case .write:
                guard !server.policy.readOnly else {
                    return eventLoop.makeFailedFuture(Wire.Failure(code: "read_only", message: "this server is read-only", position: nil))
                }
                let promise = eventLoop.makePromise(of: QueryValue.self)
                server.writer.submit(statement, promise: promise)
                return promise.futureResult
            case .admin:
                guard !server.policy.readOnly, server.isAdmin(uid) else {
                    let who = uid.map { "uid \($0)" } ?? "an unknown peer"
                    return eventLoop.makeFailedFuture(
                        Wire.Failure(code: "permission_denied", message: "\(who) may not run admin statements", position: nil))
                }
                let promise = eventLoop.makePromise(of: QueryValue.self)
                server.adminQueue.async {
                    do { promise.succeed(try server.database.execute(statement)) } catch { promise.fail(error) }
                }
                return promise.futureResult
            }
        }
        result.whenComplete { outcome in
            let elapsed = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
            let text: String
            switch outcome {
            case .success(let value): text = Wire.success(id: request.id, result: value, tookMicroseconds: elapsed)
            case .failure(let error): text = Wire.failure(id: request.id, Wire.failure(error))
            }
            self.complete(sequence, text, context: context)
        }
        applyBackpressure(context: context)
    }

    /// Records a finished response and writes every response that is next in order.
    private func complete(_ sequence: Int, _ text: String, context: ChannelHandlerContext) {
        finished[sequence] = text
        var wrote = false
        while let next = finished.removeValue(forKey: nextToWrite) {
            var buffer = context.channel.allocator.buffer(capacity: next.utf8.count + 1)
            buffer.writeString(next)
            buffer.writeInteger(UInt8(ascii: "\n"))
            context.write(wrapOutboundOut(buffer), promise: nil)
            nextToWrite += 1
            server.requestFinished()
            wrote = true
        }
        if wrote { context.flush() }
        applyBackpressure(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        applyBackpressure(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Pauses reading while too many requests are in flight or the client is not taking its responses.
    private func applyBackpressure(context: ChannelHandlerContext) {
        let busy = nextSequence - nextToWrite >= server.policy.maxPipelined || !context.channel.isWritable
        guard busy != paused else { return }
        paused = busy
        _ = context.channel.setOption(ChannelOptions.autoRead, value: !busy)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.debug("connection error: \(error)")
        context.close(promise: nil)
    }
}

/// Linux's `struct ucred` (hidden behind `_GNU_SOURCE` in the C headers): what `SO_PEERCRED` returns.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Answers a connection over the limit with one error line and closes it.
final class RejectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        let text = Wire.failure(
            id: "null", Wire.Failure(code: "too_many_connections", message: "the server has \(limit) connections open", position: nil))
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count + 1)
        buffer.writeString(text + "\n")
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }
}
