import CNATS
import Dispatch
import RecWire
import Synchronization

/// The publishes waiting for JetStream's acknowledgement, by message id: libnats calls ``handle(context:message:ack:failure:)``
/// on its own thread for each, and a failed one is sent again (same id, so the stream keeps one copy) until its
/// attempts run out.
final class PublishAcks: Sendable {
    private struct Waiting {
        var completion: JetStream.PublishCompletion
        var attempts = 1
    }

    private let waiting = Mutex([String: Waiting]())
    private let attempts: Int
    private let ackWait: Int64

    /// Sends a message again under its id (set by ``JetStream`` once it is connected).
    let resender = Mutex<(@Sendable (String, String, [UInt8]) -> Void)?>(nil)

    init(attempts: Int, ackWait: Int64) {
        self.attempts = attempts
        self.ackWait = ackWait
    }

    func register(_ id: String, _ completion: @escaping JetStream.PublishCompletion) {
        waiting.withLock { $0[id] = Waiting(completion: completion) }
    }

    func complete(_ id: String, _ result: Result<UInt64, RecDBError>) {
        guard let entry = waiting.withLock({ $0.removeValue(forKey: id) }) else { return }
        entry.completion(result)
    }

    func failAll(_ error: RecDBError) {
        let all = waiting.withLock { waiting in
            defer { waiting.removeAll() }
            return Array(waiting.values)
        }
        for entry in all { entry.completion(.failure(error)) }
    }

    /// libnats' acknowledgement callback: completes the publish, or sends it again.
    func handle(
        context: OpaquePointer?, message: OpaquePointer?, ack: UnsafeMutablePointer<jsPubAck>?,
        failure: UnsafeMutablePointer<jsPubAckErr>?
    ) {
        var idText: UnsafePointer<CChar>?
        let id = natsMsgHeader_Get(message, "Nats-Msg-Id", &idText) == NATS_OK ? idText.map { String(cString: $0) } : nil
        guard let id else { return natsMsg_Destroy(message) }
        if let ack {
            natsMsg_Destroy(message)
            return complete(id, .success(ack.pointee.Sequence))
        }
        let status = failure?.pointee.Err ?? NATS_ERR
        let text = failure.flatMap { $0.pointee.ErrText.map { String(cString: $0) } } ?? String(cString: natsStatus_GetText(status))
        let retry = waiting.withLock { waiting -> Bool in
            guard var entry = waiting[id], entry.attempts < attempts else { return false }
            entry.attempts += 1
            waiting[id] = entry
            return true
        }
        if retry, let resend = resender.withLock({ $0 }) {
            // Sent again after a pause that grows with each attempt: right after a server's loss the stream has no
            // leader for a few seconds and answers at once that nobody responds.
            let subject = String(cString: natsMsg_GetSubject(message))
            let length = Int(natsMsg_GetDataLength(message))
            let payload = length == 0 ? [] : Array(UnsafeRawBufferPointer(start: natsMsg_GetData(message), count: length))
            natsMsg_Destroy(message)
            let attempt = waiting.withLock { $0[id]?.attempts ?? 1 }
            DispatchQueue.global().asyncAfter(deadline: .now() + min(0.25 * Double(attempt - 1), 1.0)) {
                resend(id, subject, payload)
            }
            return
        }
        natsMsg_Destroy(message)
        complete(id, .failure(RecDBError(.unavailable, "JetStream did not acknowledge message \(id) after \(attempts) attempts: \(text)")))
    }
}
