import CNATS
import Foundation
import RecWire
import Synchronization

/// One message of a stream, copied out of libnats.
public struct StreamMessage: Sendable {
    /// The message's sequence in the stream (1, 2, …).
    public var sequence: UInt64
    /// The subject it was published to.
    public var subject: String
    /// When the stream stored it, in nanoseconds since the epoch.
    public var storedAtNanoseconds: Int64
    /// The payload.
    public var payload: [UInt8]
}

/// An ordered consumer (libnats' `Ordered` push consumer, ephemeral and without acknowledgements): delivers a
/// stream's messages in sequence order from a start sequence, and when it misses one (its server died, a heartbeat
/// went missing) recreates itself on the server from the last sequence it delivered. One thread reads it.
public final class OrderedConsumer: Sendable {
    /// The libnats subscription's address (0 once closed), kept as a number so that the checked-`Sendable` class
    /// can hold it; only this class turns it back into a pointer, under the lock.
    private let subscription: Mutex<UInt>
    /// The stream, for messages.
    public let stream: String

    init(context: OpaquePointer, stream: String, subject: String, from sequence: UInt64) throws {
        self.stream = stream
        var options = jsSubOptions()
        try JetStream.check(jsSubOptions_Init(&options), "initialising subscription options")
        var code = jsErrCode(0)
        var handle: OpaquePointer?
        let streamName = strdup(stream)
        defer { free(streamName) }
        options.Stream = UnsafePointer(streamName)
        options.Ordered = true
        options.Config.DeliverPolicy = sequence <= 1 ? js_DeliverAll : js_DeliverByStartSequence
        options.Config.OptStartSeq = sequence <= 1 ? 0 : sequence
        let status = js_SubscribeSync(&handle, context, subject, nil, &options, &code)
        try JetStream.check(status, "opening an ordered consumer on stream '\(stream)' from sequence \(sequence)", code: code)
        // Room for a long catch-up: the library stops delivering (slow consumer) past these limits.
        natsSubscription_SetPendingLimits(handle, 1_000_000, 1 << 30)
        subscription = Mutex(UInt(bitPattern: handle))
    }

    deinit { close() }

    /// The next message, or nil when none came within `timeoutMilliseconds`.
    public func next(timeoutMilliseconds: Int64) throws -> StreamMessage? {
        try subscription.withLock { address in
            guard let handle = OpaquePointer(bitPattern: address) else { throw RecDBError(.unavailable, "the consumer on stream '\(stream)' is closed") }
            var message: OpaquePointer?
            let status = natsSubscription_NextMsg(&message, handle, timeoutMilliseconds)
            if status == NATS_TIMEOUT { return nil }
            try JetStream.check(status, "reading stream '\(stream)'")
            defer { natsMsg_Destroy(message) }
            var meta: UnsafeMutablePointer<jsMsgMetaData>?
            try JetStream.check(natsMsg_GetMetaData(&meta, message), "reading a message's stream sequence")
            defer { jsMsgMetaData_Destroy(meta) }
            let length = Int(natsMsg_GetDataLength(message))
            let payload: [UInt8] =
                length == 0
                ? [] : Array(UnsafeRawBufferPointer(start: natsMsg_GetData(message), count: length))
            return StreamMessage(
                sequence: meta!.pointee.Sequence.Stream, subject: String(cString: natsMsg_GetSubject(message)),
                storedAtNanoseconds: meta!.pointee.Timestamp, payload: payload)
        }
    }

    /// Ends the subscription.
    public func close() {
        subscription.withLock { address in
            if let open = OpaquePointer(bitPattern: address) {
                natsSubscription_Unsubscribe(open)
                natsSubscription_Destroy(open)
            }
            address = 0
        }
    }
}
