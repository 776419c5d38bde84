import Foundation
import Logging
import NIOCore
import NIOPosix
import RecDB

/// The Unix-socket server: binds, accepts, and shuts down gracefully.
final class Server {
    let context: ServerContext
    let socketPath: String
    let socketMode: mode_t
    private let group: MultiThreadedEventLoopGroup
    private var listener: Channel?

    init(context: ServerContext, socketPath: String, socketMode: mode_t, eventLoops: Int) {
        self.context = context
        self.socketPath = socketPath
        self.socketMode = socketMode
        group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
    }

    /// Binds the socket (replacing a stale socket file, refusing when another server answers on it) and starts.
    func start() throws {
        if FileManager.default.fileExists(atPath: socketPath), Self.somebodyListens(on: socketPath) {
            throw RecDBError(.alreadyExists, "another server is listening on this socket", location: socketPath)
        }
        context.start()
        let server = context
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            // A client that closes its sending side still gets its answers (the handler closes after the last one).
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                // The initializer runs on the channel's event loop: handlers are added synchronously there.
                do {
                    guard server.register(channel) else {
                        try channel.pipeline.syncOperations.addHandler(
                            RejectHandler(message: "the server has \(server.policy.maxConnections) connections open"))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(LineFrameDecoder(maxLength: server.policy.maxLineLength)),
                        ConnectionHandler(server: server),
                    ])
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        // Create the socket file with the wanted mode: bind honours the umask.
        let previous = umask(~socketMode & 0o777)
        defer { umask(previous) }
        listener = try bootstrap.bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).wait()
        chmod(socketPath, socketMode)
    }

    /// Stops accepting and reading, lets the requests in flight finish (up to `grace` seconds; then cancels them and
    /// gives them one more second to stop), commits the queued writes, closes every connection and removes the socket
    /// file. Requests that arrive meanwhile are answered `shutting_down`. Returns within about `grace` + 1 s plus
    /// the time to commit the writes already queued, whatever the load.
    func shutdown(grace: TimeInterval = 30) {
        context.logger.info("shutting down: \(context.requestsInFlight) requests in flight")
        context.beginDraining()
        try? listener?.close().wait()
        // Read no more: clients that keep sending cannot keep the server alive.
        for channel in context.openChannels {
            channel.eventLoop.execute { _ = channel.setOption(ChannelOptions.autoRead, value: false) }
        }
        let deadline = Date().addingTimeInterval(grace)
        while context.requestsInFlight > 0 && Date() < deadline { usleep(2_000) }
        if context.requestsInFlight > 0 {
            context.logger.warning("grace of \(Int(grace)) s over: cancelling \(context.requestsInFlight) requests")
            context.cancelAll()
            let cancelDeadline = Date().addingTimeInterval(1)
            while context.requestsInFlight > 0 && Date() < cancelDeadline { usleep(2_000) }
        }
        context.replica?.stop()
        context.writer.stop()
        // Let the last answers reach the sockets before closing them.
        for channel in context.openChannels { try? channel.close().wait() }
        let leftover = context.requestsInFlight
        if leftover > 0 {
            // Work that ignores cancellation (a job deep in a step with no check) must not hold the process: every
            // acknowledged write is committed, and LMDB needs no shutdown to stay consistent.
            context.logger.warning("\(leftover) requests did not stop; exiting without them")
            unlink(socketPath)
            return
        }
        try? context.readers.syncShutdownGracefully()
        try? context.heavyReaders.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        unlink(socketPath)
        context.logger.info("stopped after \(context.requestsServed) requests")
    }

    /// Whether a process accepts connections on the socket file (a stale file from a crash refuses them).
    static func somebodyListens(on path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }
}
