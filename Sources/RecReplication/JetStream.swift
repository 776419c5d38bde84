import CNATS
import Foundation
import RecWire
import Synchronization

/// A connection to a NATS cluster with JetStream (libnats): creates a replicated stream, publishes to it with
/// acknowledgements, and opens ordered consumers on it.
///
/// ```swift
/// let js = try JetStream(servers: ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"], name: "recd n1")
/// try js.ensureStream(StreamSettings(name: "recdb", subject: "recdb.writes", replicas: 3))
/// js.publish(subject: "recdb.writes", payload: bytes, messageID: "n1-1") { result in print(result) }
/// ```
///
/// The client reconnects by itself (to any server of the list, forever) when its server goes away. A publish is
/// acknowledged once the stream has stored it on a quorum of its replicas; one whose acknowledgement does not come
/// within ``ackWait`` is sent again with the same message id (the stream drops duplicates by id), up to
/// ``publishAttempts`` times, and then fails with `unavailable`.
public final class JetStream: Sendable {
    /// What a publish ends with: the stream sequence JetStream gave the message, or why it failed.
    public typealias PublishCompletion = @Sendable (Result<UInt64, RecDBError>) -> Void

    /// How long a publish waits for its acknowledgement before it is sent again, in milliseconds.
    public let ackWait: Int64
    /// How many times a publish is sent before it fails.
    public let publishAttempts: Int
    /// The servers as given, for messages.
    public let servers: [String]

    private struct Handles {
        var options: OpaquePointer?
        var connection: OpaquePointer?
        var context: OpaquePointer?
    }

    private let handles: Mutex<Handles>
    /// Outlives the connection (closed before it goes), so libnats' callbacks may reach it unretained.
    private let acks: PublishAcks

    /// Connects to `servers` (URLs like `nats://127.0.0.1:4222`) and opens a JetStream context. Throws
    /// `unavailable` naming the servers when none answers.
    public init(servers: [String], name: String, ackWait: Int64 = 2000, publishAttempts: Int = 8) throws {
        guard !servers.isEmpty else { throw RecDBError(.invalidArgument, "no NATS server given") }
        self.servers = servers
        self.ackWait = ackWait
        self.publishAttempts = publishAttempts
        acks = PublishAcks(attempts: publishAttempts, ackWait: ackWait)
        var handles = Handles()
        do {
            try Self.check(natsOptions_Create(&handles.options), "creating the NATS options")
            var urls = servers.map { strdup($0) }
            defer { urls.forEach { free($0) } }
            try urls.withUnsafeMutableBufferPointer { buffer in
                try buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                    try Self.check(
                        natsOptions_SetServers(handles.options, $0, Int32(buffer.count)), "setting the NATS servers")
                }
            }
            try Self.check(natsOptions_SetName(handles.options, name), "naming the NATS connection")
            try Self.check(natsOptions_SetMaxReconnect(handles.options, -1), "setting reconnects")
            try Self.check(natsOptions_SetReconnectWait(handles.options, 250), "setting the reconnect wait")
            try Self.check(natsOptions_SetTimeout(handles.options, 2000), "setting the connect timeout")
            // Messages published while reconnecting wait in this buffer (64 MiB) instead of failing.
            try Self.check(natsOptions_SetReconnectBufSize(handles.options, 64 << 20), "setting the reconnect buffer")
            try Self.check(
                natsConnection_Connect(&handles.connection, handles.options),
                "connecting to NATS at \(servers.joined(separator: ","))")
            var options = jsOptions()
            try Self.check(jsOptions_Init(&options), "initialising JetStream options")
            options.Wait = ackWait
            options.PublishAsync.MaxPending = 65_536
            options.PublishAsync.StallWait = 5_000
            options.PublishAsync.AckHandler = { context, message, ack, failure, closure in
                guard let closure else { return natsMsg_Destroy(message) }
                Unmanaged<PublishAcks>.fromOpaque(closure).takeUnretainedValue()
                    .handle(context: context, message: message, ack: ack, failure: failure)
            }
            options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(acks).toOpaque()
            try Self.check(
                natsConnection_JetStream(&handles.context, handles.connection, &options), "opening a JetStream context")
        } catch {
            Self.destroy(handles)
            throw error
        }
        self.handles = Mutex(handles)
        acks.resender.withLock { resend in
            resend = { [weak self] id, subject, payload in
                guard let self else { return }
                self.send(subject: subject, payload: payload, messageID: id)
            }
        }
    }

    deinit { close() }

    /// Closes the connection; publishes still waiting for their acknowledgement fail with `unavailable`.
    public func close() {
        let closed = handles.withLock { handles in
            let old = handles
            handles = Handles()
            return old.connection != nil ? { Self.destroy(old) } : nil as (() -> Void)?
        }
        closed?()
        acks.failAll(RecDBError(.unavailable, "the NATS connection was closed"))
    }

    private static func destroy(_ handles: Handles) {
        if let context = handles.context { jsCtx_Destroy(context) }
        if let connection = handles.connection {
            natsConnection_Close(connection)
            natsConnection_Destroy(connection)
        }
        if let options = handles.options { natsOptions_Destroy(options) }
    }

    // MARK: - Streams

    /// Creates the stream when it does not exist; an existing one is kept as it is (its replica count is
    /// reported by ``StreamSettings``' caller through ``streamReplicas(_:)``).
    public func ensureStream(_ settings: StreamSettings) throws {
        try handles.withLock { handles in
            guard let context = handles.context else { throw RecDBError(.unavailable, "the NATS connection is closed") }
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(0)
            var status = js_GetStreamInfo(&info, context, settings.name, nil, &code)
            if status == NATS_OK {
                jsStreamInfo_Destroy(info)
                return
            }
            guard status == NATS_NOT_FOUND || code == JSStreamNotFoundErr else {
                throw Self.error(status, code: code, "reading stream '\(settings.name)'")
            }
            var config = jsStreamConfig()
            try Self.check(jsStreamConfig_Init(&config), "initialising a stream config")
            let name = strdup(settings.name), subject = strdup(settings.subject)
            defer {
                free(name)
                free(subject)
            }
            var subjects: [UnsafePointer<CChar>?] = [UnsafePointer(subject)]
            status = subjects.withUnsafeMutableBufferPointer { buffer in
                config.Name = UnsafePointer(name)
                config.Subjects = buffer.baseAddress
                config.SubjectsLen = 1
                config.Storage = js_FileStorage
                config.Replicas = Int64(settings.replicas)
                config.Duplicates = settings.duplicateWindow.nanoseconds
                if let maxAge = settings.maxAge { config.MaxAge = maxAge.nanoseconds }
                return js_AddStream(&info, context, &config, nil, &code)
            }
            if status == NATS_OK || code == JSStreamNameExistErr {
                jsStreamInfo_Destroy(info)
                return
            }
            throw Self.error(
                status, code: code, "creating stream '\(settings.name)' with \(settings.replicas) replicas")
        }
    }

    /// The replica count and last sequence of a stream, as its leader reports them.
    public func streamState(_ name: String) throws -> (replicas: Int, lastSequence: UInt64) {
        try handles.withLock { handles in
            guard let context = handles.context else { throw RecDBError(.unavailable, "the NATS connection is closed") }
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(0)
            try Self.check(js_GetStreamInfo(&info, context, name, nil, &code), "reading stream '\(name)'", code: code)
            defer { jsStreamInfo_Destroy(info) }
            let replicas = Int(info!.pointee.Config.pointee.Replicas)
            return (replicas, info!.pointee.State.LastSeq)
        }
    }

    // MARK: - Publishing

    /// Publishes `payload` to `subject` without waiting: `completion` runs (on a libnats thread) with the stream
    /// sequence once JetStream has stored the message on a quorum, or with the error after the last attempt.
    /// `messageID` must be unique per message: the stream stores a resent message once.
    public func publish(
        subject: String, payload: [UInt8], messageID: String, completion: @escaping PublishCompletion
    ) {
        acks.register(messageID, completion)
        send(subject: subject, payload: payload, messageID: messageID)
    }

    /// Hands one message to libnats (the first attempt or a later one).
    private func send(subject: String, payload: [UInt8], messageID: String) {
        let status: natsStatus = handles.withLock { handles in
            guard let context = handles.context else { return NATS_CONNECTION_CLOSED }
            var message: OpaquePointer?
            var status = payload.withUnsafeBytes { bytes in
                natsMsg_Create(&message, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                    Int32(bytes.count))
            }
            if status == NATS_OK { status = natsMsgHeader_Set(message, "Nats-Msg-Id", messageID) }
            var options = jsPubOptions()
            jsPubOptions_Init(&options)
            options.MaxWait = ackWait
            if status == NATS_OK { status = js_PublishMsgAsync(context, &message, &options) }
            natsMsg_Destroy(message)  // no-op when the library took it
            return status
        }
        if status != NATS_OK {
            acks.complete(messageID, .failure(Self.error(status, code: jsErrCode(0), "publishing to '\(subject)'")))
        }
    }

    /// Opens an ordered consumer on `stream` that delivers its messages from `sequence` on (1: from the start).
    public func orderedConsumer(stream: String, subject: String, from sequence: UInt64) throws -> OrderedConsumer {
        try handles.withLock { handles in
            guard let context = handles.context else { throw RecDBError(.unavailable, "the NATS connection is closed") }
            return try OrderedConsumer(context: context, stream: stream, subject: subject, from: sequence)
        }
    }

    // MARK: - Errors

    static func check(_ status: natsStatus, _ what: String, code: jsErrCode = jsErrCode(0)) throws {
        guard status == NATS_OK else { throw error(status, code: code, what) }
    }

    static func error(_ status: natsStatus, code: jsErrCode, _ what: String) -> RecDBError {
        let text = String(cString: natsStatus_GetText(status))
        var last = NATS_OK
        let detail = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        let jetStream = code.rawValue != 0 ? " (JetStream error \(code.rawValue))" : ""
        let extra = detail.isEmpty || detail == text ? "" : ": \(detail)"
        return RecDBError(.unavailable, "\(what) failed: \(text)\(jetStream)\(extra)")
    }
}

/// What ``JetStream/ensureStream(_:)`` creates.
public struct StreamSettings: Sendable {
    /// The stream's name, e.g. `recdb`.
    public var name: String
    /// The one subject the stream stores, e.g. `recdb.writes`.
    public var subject: String
    /// Servers that store each message (3 for a quorum of 2 that survives one server's loss).
    public var replicas: Int
    /// How long the stream remembers message ids to drop resent duplicates.
    public var duplicateWindow: Duration
    /// How long the stream keeps a message; nil: for ever (the write log).
    public var maxAge: Duration?

    /// Settings for stream `name` on `subject` (may end in `.>`) with `replicas` copies, a two-minute duplicate
    /// window and messages kept `maxAge` (for ever when nil).
    public init(
        name: String, subject: String, replicas: Int = 3, duplicateWindow: Duration = .seconds(120),
        maxAge: Duration? = nil
    ) {
        self.name = name
        self.subject = subject
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
        self.maxAge = maxAge
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
