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
            .childChannelInitializer { channel in
                // The initializer runs on the channel's event loop: handlers are added synchronously there.
                do {
                    guard server.register(channel) else {
                        try channel.pipeline.syncOperations.addHandler(RejectHandler(limit: server.policy.maxConnections))
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

    /// Stops accepting, lets in-flight requests finish (up to `grace` seconds), commits queued writes, closes every
    /// connection and removes the socket file.
    func shutdown(grace: TimeInterval = 30) {
        context.logger.info("shutting down: \(context.requestsInFlight) requests in flight")
        try? listener?.close().wait()
        let deadline = Date().addingTimeInterval(grace)
        while context.requestsInFlight > 0 && Date() < deadline { usleep(5_000) }
        context.writer.stop()
        for channel in context.openChannels { try? channel.close().wait() }
        try? context.readers.syncShutdownGracefully()
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
