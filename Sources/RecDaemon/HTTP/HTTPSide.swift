import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import RecDB
import Synchronization

/// `recd --metrics HOST:PORT`: the HTTP side, served by Hummingbird on a loopback TCP port (off by default).
///
/// - `GET /metrics`: Prometheus text format (``DaemonMetrics``).
/// - `GET /`, `/models`, `/experiments`, `/console`: the dashboard (``DashboardPages``), assets under `/assets/`.
/// - `POST /api/query`: one request in the socket's wire format (`{"id":1,"q":"SHOW STATS"}`), answered as the
///   socket answers, with the HTTP side's role (`--http-role`, at most the socket's default role and never above
///   `write`). The console uses it.
///
/// A TCP port has no peer credentials, so anything on the machine may connect: requests must name a loopback host
/// (`Host: 127.0.0.1:9464`, `localhost`, `[::1]`, which stops a web page from reaching the port through a DNS name
/// it controls), and queries must come as `application/json` (which a page on another origin cannot send without
/// the server's consent).
final class HTTPSide: Sendable {
    let server: ServerContext
    let host: String
    let port: Int
    /// The role of every HTTP query.
    let role: Role
    private let group: MultiThreadedEventLoopGroup
    /// The task that runs the application, and how starting it went (the bound port, or why not).
    private let state = Mutex<(task: Task<Void, Never>?, outcome: Result<Int, any Error>?)>((nil, nil))
    /// Signalled once the port is bound or binding failed.
    private let bound = DispatchSemaphore(value: 0)

    init(server: ServerContext, host: String, port: Int, role: Role) {
        self.server = server
        self.host = host
        self.port = port
        self.role = role
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// `HOST:PORT` with a loopback host (`127.x.x.x`, `localhost`, `::1` or `[::1]`), or nil.
    static func loopbackAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard isLoopback(host) else { return nil }
        return (host, port)
    }

    /// Whether `host` (no port, no brackets) names this machine's loopback interface.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Binds and starts serving; throws when the port cannot be bound. Returns the bound port (useful with port 0).
    @discardableResult
    func start() throws -> Int {
        let application = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "recd"),
            onServerRunning: { [self] channel in settle(.success(channel.localAddress?.port ?? port)) },
            eventLoopGroupProvider: .shared(group),
            logger: server.logger)
        let running = Task { [self] in
            do {
                try await application.run()
            } catch {
                if !settle(.failure(error)) { server.logger.error("the HTTP side stopped: \(error)") }
            }
        }
        state.withLock { $0.task = running }
        guard bound.wait(timeout: .now() + 30) == .success else {
            throw RecDBError(.unavailable, "the HTTP side did not start within 30 s", location: "\(host):\(port)")
        }
        switch state.withLock({ $0.outcome }) {
        case .success(let port): return port
        case .failure(let error):
            throw RecDBError(.unavailable, "cannot serve HTTP: \(error)", location: "\(host):\(port)")
        case nil: throw RecDBError(.internal, "the HTTP side neither started nor failed")
        }
    }

    /// Records how starting went, once; false when it was already settled.
    @discardableResult
    private func settle(_ outcome: Result<Int, any Error>) -> Bool {
        let first = state.withLock { state in
            guard state.outcome == nil else { return false }
            state.outcome = outcome
            return true
        }
        if first { bound.signal() }
        return first
    }

    /// Stops serving: open requests finish, then the port closes.
    func stop() {
        guard let running = state.withLock({ $0.task }) else { return }
        running.cancel()
        let done = DispatchSemaphore(value: 0)
        Task {
            await running.value
            done.signal()
        }
        _ = done.wait(timeout: .now() + 10)
        try? group.syncShutdownGracefully()
    }

    // MARK: - Routes

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: LoopbackHostMiddleware())
        let pages = DashboardPages(server: server, role: role)
        router.get("metrics") { [server] _, _ -> Response in
            let text = server.metrics.scrape(server.metricsSnapshot, database: server.database)
            return Self.response(text, type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/") { _, _ in Self.html(try await pages.run { try pages.overview() }) }
        router.get("models") { _, _ in Self.html(try await pages.run { try pages.models() }) }
        router.get("experiments") { _, _ in Self.html(try await pages.run { try pages.experiments() }) }
        router.get("console") { _, _ in Self.html(pages.console()) }
        router.get("assets/dashboard.css") { _, _ in Self.response(Array(DashboardAssets.css.utf8), type: "text/css") }
        router.get("assets/console.js") { _, _ in
            Self.response(Array(DashboardAssets.consoleScript.utf8), type: "text/javascript")
        }
        router.post("api/query") { [server, role, group] request, _ -> Response in
            guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
                return Self.response(
                    Array("send the query as application/json\n".utf8), type: "text/plain", status: .unsupportedMediaType)
            }
            let body = try await request.body.collect(upTo: server.policy.maxLineLength)
            let answer = await HTTPQuery(server: server, role: role, eventLoop: group.next()).answer(Array(buffer: body))
            return Self.response(answer, type: "application/json")
        }
        return router
    }

    static func html(_ page: String) -> Response {
        response(Array(page.utf8), type: "text/html; charset=utf-8")
    }

    static func response(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: type, .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Refuses requests whose `Host` is not a loopback name: a page on a DNS name that resolves to 127.0.0.1 cannot read
/// the dashboard through the browser.
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let authority = request.head.authority ?? ""
        var host = authority
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<end])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        guard HTTPSide.isLoopback(host) else {
            return HTTPSide.response(
                Array("recd answers only requests to a loopback host, not '\(authority)'\n".utf8), type: "text/plain",
                status: .misdirectedRequest)
        }
        return try await next(request, context)
    }
}
