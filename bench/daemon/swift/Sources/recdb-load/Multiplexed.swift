// The load generator's second driver (`LOAD_DRIVER=select`): every client connection of a phase served by one thread
// with select, the way wrk and memtier drive a server, instead of a thread per client whose every answer wakes it.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Opens a blocking connection to a Unix socket, or nil.
func connectUnixSocket(_ path: String) -> Int32? {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(fd); return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else { close(fd); return nil }
    return fd
}

/// One client of a multiplexed phase: its socket, the request in flight and the bytes of its answer read so far.
private final class MultiplexedClient {
    let fd: Int32
    let index: Int
    var n = 0
    var inFlight = false
    /// When the request in flight was due (paced) or sent (closed loop): its latency counts from here.
    var scheduled = 0.0
    var isRead = true
    var inbound: [UInt8] = []
    var latencies: [Double] = []
    var reads: [Double] = []
    var errors = 0
    var trace: [String] = []

    init(fd: Int32, index: Int) {
        self.fd = fd
        self.index = index
        inbound.reserveCapacity(1 << 16)
    }
}

/// Writes all of `bytes`, waiting for the socket when its buffer is full.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
        if written > 0 { offset += written; continue }
        if written < 0 && (errno == EAGAIN || errno == EINTR) {
            var pending = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pending, 1, 100)
            continue
        }
        return false
    }
    return true
}

/// `clients` connections for `seconds`, all driven by this thread: each sends `make(client, n)` in a closed loop, or
/// paced at `rate` requests per second per client (latency then counts from the scheduled send time). Each answer is
/// checked to be the success line of its request id, as `call` does.
func runMultiplexed(
    socket path: String, clients count: Int, seconds: Double, rate: Double?, traced: Bool,
    _ make: (Int, Int) -> (String, [String: Any])
) -> (latencies: [Double], reads: [Double], errors: Int, trace: [String]) {
    var clients: [MultiplexedClient] = []
    var failedConnections = 0
    for index in 0..<count {
        guard let fd = connectUnixSocket(path) else { failedConnections += 1; continue }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        clients.append(MultiplexedClient(fd: fd, index: index))
    }
    defer { for client in clients { close(client.fd) } }
    let start = now() + 0.2
    let end = start + seconds
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    // select, not poll: its timeout has microseconds, and a paced send may be due in less than a millisecond.
    var watched = Array(clients.indices)
    let highest = (clients.map(\.fd).max() ?? 0) + 1
    precondition(highest < Int32(FD_SETSIZE), "descriptor beyond select's set")
    var readable = fd_set()

    func send(_ client: MultiplexedClient, scheduled: Double) {
        let (text, parameters) = make(client.index, client.n)
        client.scheduled = scheduled
        client.isRead = !text.hasPrefix("UPSERT") && !text.hasPrefix("EVENT")
        client.inFlight = true
        if !writeAll(client.fd, Array((requestLine(id: client.n + 1, text, parameters) + "\n").utf8)) {
            client.errors += 1
            client.inFlight = false
            client.n += 1
        }
    }
    /// When `client` should send next (paced), or now (closed loop).
    func due(_ client: MultiplexedClient) -> Double {
        guard let rate else { return 0 }
        return start + (Double(client.n) + Double(client.index) / Double(count)) / rate
    }

    while now() < start {}
    while true {
        let time = now()
        if time > end && !clients.contains(where: { $0.inFlight }) { break }
        // Send what is due.
        var nextDue = Double.infinity
        if time <= end {
            for client in clients where !client.inFlight {
                let when = due(client)
                if when <= time {
                    send(client, scheduled: rate == nil ? time : when)
                } else {
                    nextDue = min(nextDue, when)
                }
            }
        }
        // Wait for answers, or until the next send is due.
        let wait = nextDue.isFinite ? max(0, nextDue - now()) : 0.1
        var timeout = timeval(tv_sec: Int(wait), tv_usec: Int((wait - floor(wait)) * 1e6))
        fdClearAll(&readable)
        for i in watched { fdInsert(clients[i].fd, &readable) }
        let ready = select(highest, &readable, nil, nil, &timeout)
        if ready <= 0 { continue }
        for (i, client) in clients.enumerated() where fdContains(client.fd, &readable) {
            while true {
                let got = buffer.withUnsafeMutableBytes { read(client.fd, $0.baseAddress!, $0.count) }
                if got > 0 {
                    client.inbound.append(contentsOf: buffer[0..<got])
                    if got < buffer.count { break }
                    continue
                }
                if got == 0 || (errno != EAGAIN && errno != EINTR) {
                    // The server closed the connection: count the request lost and stop this client.
                    if client.inFlight { client.errors += 1; client.inFlight = false }
                    watched.removeAll { $0 == i }
                }
                break
            }
            while let newline = client.inbound.firstIndex(of: 0x0A) {
                let line = client.inbound[..<newline]
                let received = now()
                let expected = Array("{\"id\":\(client.n + 1),\"ok\":true".utf8)
                if !line.starts(with: expected) { client.errors += 1 }
                client.inbound.removeSubrange(...newline)
                let latency = (received - client.scheduled) * 1000
                client.latencies.append(latency)
                if client.isRead { client.reads.append(latency) }
                if traced {
                    client.trace.append(String(format: "%d %.6f %.4f", client.index, client.scheduled - start, latency))
                }
                client.inFlight = false
                client.n += 1
                if rate == nil && received <= end { send(client, scheduled: received) }
            }
        }
    }
    return (
        clients.flatMap(\.latencies), clients.flatMap(\.reads), clients.reduce(failedConnections) { $0 + $1.errors },
        clients.flatMap(\.trace)
    )
}

/// `fd_set` by hand: Swift does not import the FD_* macros.
private func fdClearAll(_ set: inout fd_set) {
    withUnsafeMutableBytes(of: &set) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
}

private func fdInsert(_ fd: Int32, _ set: inout fd_set) {
    withUnsafeMutableBytes(of: &set) { $0[Int(fd) / 8] |= UInt8(1 << (Int(fd) % 8)) }
}

private func fdContains(_ fd: Int32, _ set: inout fd_set) -> Bool {
    withUnsafeMutableBytes(of: &set) { $0[Int(fd) / 8] & UInt8(1 << (Int(fd) % 8)) != 0 }
}
