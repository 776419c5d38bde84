import Foundation
import RecDB
import RecWire
import Synchronization

/// Model generations shipped through JetStream instead of retrained on every node (`recd --ship-generations`).
///
/// libnats 3.4.1 (Debian's) has no object-store API, so a generation travels on a plain stream,
/// `<stream>-generations` (subjects `<stream>.generations.<id>.chunk|manifest`, the write stream's replica count,
/// kept a day): the ``GenerationArchive``'s bytes in chunks of 512 KiB, each prefixed by its index, then a JSON
/// manifest with the chunk count, the size and the archive's CRC-32. A receiver reads the shipment's subject from
/// the start, keeps each chunk once (a re-shipment after a restart repeats them), and accepts the bytes only when
/// the manifest's size and checksum match; the archive checks its own checksum again when it is decoded.
///
/// A replicated `REFRESH MODEL m` then runs as: the node that accepted it trains (as before, at the entry's
/// accepted time, with a reproducible index build), exports the generation and ships it under the entry's write id;
/// every other node waits for that shipment and installs it in one transaction. A node that does not get it before
/// the entry's acceptance time plus ``wait`` (the trainer died, the shipment is older than the stream keeps)
/// trains itself on the same log position, which gives the same model. Kinds outside
/// ``GenerationArchive/shippableKinds`` (popularity, text models) are trained by every node.
public struct GenerationShipping: Sendable {
    /// The connection the shipments go through.
    public let jetStream: JetStream
    /// The stream that holds shipments.
    public let stream: String
    /// Subjects are `<subjectPrefix>.<id>.chunk` and `.manifest`.
    public let subjectPrefix: String
    /// How long after a `REFRESH` was accepted a node waits for its shipment before training itself.
    public var wait: Duration
    /// Bytes per chunk message (NATS' default payload limit is 1 MiB).
    public static let chunkBytes = 512 << 10

    /// Makes sure the shipment stream beside write stream `writeStream` exists (`replicas` copies).
    public init(jetStream: JetStream, writeStream: String, replicas: Int, wait: Duration = .seconds(600)) throws {
        self.jetStream = jetStream
        stream = writeStream + "-generations"
        subjectPrefix = writeStream + ".generations"
        self.wait = wait
        try jetStream.ensureStream(
            StreamSettings(name: stream, subject: subjectPrefix + ".>", replicas: replicas, maxAge: .seconds(86_400)))
    }

    /// What a shipment's last message says.
    public struct Manifest: Sendable, Equatable {
        /// The shipment's id (a log entry's write id).
        public var id: String
        /// Chunks before the manifest.
        public var chunks: Int
        /// Bytes in all.
        public var size: Int
        /// ``GenerationArchive/checksum(_:)`` of the bytes.
        public var checksum: UInt32

        var encoded: [UInt8] {
            var bytes: [UInt8] = []
            QueryValue.object([
                "id": .string(id), "chunks": .number(Double(chunks)), "size": .number(Double(size)),
                "crc32": .number(Double(checksum)),
            ]).writeJSON(into: &bytes)
            return bytes
        }

        init(id: String, chunks: Int, size: Int, checksum: UInt32) {
            self.id = id
            self.chunks = chunks
            self.size = size
            self.checksum = checksum
        }

        init(decoding bytes: [UInt8]) throws {
            let value = try QueryValue(jsonBytes: bytes)
            guard case .string(let id)? = value["id"], let chunks = value["chunks"]?.numberValue,
                let size = value["size"]?.numberValue, let crc = value["crc32"]?.numberValue,
                chunks >= 0, chunks < 1e9, size >= 0, size < 1e15, crc >= 0, crc <= Double(UInt32.max)
            else {
                throw RecDBError(.malformedInput, "a generation manifest needs id, chunks, size and crc32: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
            }
            self.init(id: id, chunks: Int(chunks), size: Int(size), checksum: UInt32(crc))
        }
    }

    // MARK: - Sending and receiving bytes

    /// Publishes `bytes` as shipment `id` (letters, digits, `_`, `-`) and returns once JetStream has stored every
    /// chunk and the manifest on a quorum; throws `unavailable` when it cannot.
    @discardableResult
    public func ship(_ bytes: [UInt8], id: String) throws -> Manifest {
        try Self.checkID(id)
        let chunks = (bytes.count + Self.chunkBytes - 1) / Self.chunkBytes
        let manifest = Manifest(id: id, chunks: chunks, size: bytes.count, checksum: GenerationArchive.checksum(bytes))
        let group = DispatchGroup()
        let failure = LockedError()
        func send(_ payload: [UInt8], subject: String, messageID: String) {
            group.enter()
            jetStream.publish(subject: subject, payload: payload, messageID: messageID) { result in
                if case .failure(let error) = result { failure.set(error) }
                group.leave()
            }
        }
        for index in 0..<chunks {
            var payload: [UInt8] = []
            payload.reserveCapacity(4 + Self.chunkBytes)
            withUnsafeBytes(of: UInt32(index).bigEndian) { payload += $0 }
            payload += bytes[(index * Self.chunkBytes)..<min(bytes.count, (index + 1) * Self.chunkBytes)]
            send(payload, subject: "\(subjectPrefix).\(id).chunk", messageID: "\(id)-c\(index)")
        }
        // The manifest goes last, after every chunk is stored: a receiver that sees it finds all chunks before it.
        group.wait()
        if let error = failure.value { throw error }
        send(manifest.encoded, subject: "\(subjectPrefix).\(id).manifest", messageID: "\(id)-m")
        group.wait()
        if let error = failure.value { throw error }
        return manifest
    }

    /// The bytes of shipment `id`, waiting for its manifest until `deadline`; nil when none came by then. A
    /// manifest whose chunks are missing or whose size or checksum does not match throws `malformed_input`.
    public func receive(id: String, until deadline: Date) throws -> [UInt8]? {
        try Self.checkID(id)
        let consumer = try jetStream.orderedConsumer(stream: stream, subject: "\(subjectPrefix).\(id).>", from: 1)
        defer { consumer.close() }
        var chunks: [Int: ArraySlice<UInt8>] = [:]
        while Date() < deadline {
            let left = Int64(max(1, min(1000, deadline.timeIntervalSinceNow * 1000)))
            guard let message = try consumer.next(timeoutMilliseconds: left) else { continue }
            if message.subject.hasSuffix(".chunk") {
                guard message.payload.count >= 4 else {
                    throw RecDBError(.malformedInput, "shipment \(id): a chunk of \(message.payload.count) bytes")
                }
                let index = Int(message.payload.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                chunks[index] = chunks[index] ?? message.payload[4...]
                continue
            }
            let manifest = try Manifest(decoding: message.payload)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(manifest.size)
            for index in 0..<manifest.chunks {
                guard let chunk = chunks[index] else {
                    throw RecDBError(
                        .malformedInput, "shipment \(id): chunk \(index) of \(manifest.chunks) is missing before its manifest")
                }
                bytes += chunk
            }
            guard bytes.count == manifest.size, GenerationArchive.checksum(bytes) == manifest.checksum else {
                throw RecDBError(
                    .malformedInput,
                    "shipment \(id): \(bytes.count) bytes with CRC-32 \(String(GenerationArchive.checksum(bytes), radix: 16)); "
                        + "the manifest says \(manifest.size) bytes, \(String(manifest.checksum, radix: 16))")
            }
            return bytes
        }
        return nil
    }

    private static func checkID(_ id: String) throws {
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw RecDBError(.invalidArgument, "a shipment id takes ASCII letters, digits, _ and -: '\(id)'")
        }
    }

    // MARK: - Replicated refresh

    /// How a node got the generation of a replicated `REFRESH`.
    public enum Outcome: String, Sendable {
        /// Trained here and shipped to the others.
        case trainedAndShipped = "trained_and_shipped"
        /// Trained here; the ship failed (the others train themselves after their wait).
        case trainedNotShipped = "trained_not_shipped"
        /// Installed from the trainer's shipment.
        case installed
        /// Trained here: a kind that is not shipped, or no shipment came in time.
        case trained
    }

    /// Runs the replicated `REFRESH MODEL model` of log entry `id`: `train` (the local refresh) on the node that
    /// accepted it (`trainsHere`), then shipped; elsewhere the shipment installed, or `train` when none comes by
    /// `acceptedAt + wait`. Returns the refresh's answer with `"replicated_as"` (an ``Outcome``) and the seconds
    /// spent getting and installing a shipment, or shipping one.
    public func refresh(
        model: String, in database: RecDatabase, id: String, trainsHere: Bool, acceptedAt: Timestamp,
        train: () throws -> QueryValue
    ) throws -> QueryValue {
        let spec = try ModelSpec.named(model)
        guard GenerationArchive.shippableKinds.contains(spec.kind) else {
            return Self.adding(.trained, seconds: nil, to: try train())
        }
        if trainsHere {
            let answer = try train()
            let started = Date()
            do {
                try ship(try database.exportGeneration(of: spec.name).bytes, id: id)
                return Self.adding(.trainedAndShipped, seconds: Date().timeIntervalSince(started), to: answer)
            } catch {
                var result = Self.adding(.trainedNotShipped, seconds: nil, to: answer)
                if case .object(var members) = result {
                    members["ship_error"] = .string("\(error)")
                    result = .object(members)
                }
                return result
            }
        }
        let started = Date()
        let deadline = acceptedAt.date.addingTimeInterval(Double(wait.components.seconds))
        var failure: (any Error)?
        do {
            if let bytes = try receive(id: id, until: deadline) {
                let archive = try GenerationArchive(bytes: bytes)
                guard archive.record.name == spec.name else {
                    throw RecDBError(.malformedInput, "shipment \(id) holds model '\(archive.record.name)', not '\(spec.name)'")
                }
                let report = try database.installGeneration(archive)
                return Self.adding(
                    .installed, seconds: Date().timeIntervalSince(started),
                    to: [
                        "model": .string(report.record.name), "generation": .number(Double(report.record.generation)),
                        "seconds": .number(report.seconds), "bytes": .number(Double(bytes.count)),
                    ])
            }
        } catch {
            failure = error  // a damaged shipment or no stream: train here, which gives the same model
        }
        var result = Self.adding(.trained, seconds: nil, to: try train())
        if let failure, case .object(var members) = result {
            members["ship_error"] = .string("\(failure)")
            result = .object(members)
        }
        return result
    }

    private static func adding(_ outcome: Outcome, seconds: Double?, to value: QueryValue) -> QueryValue {
        guard case .object(var members) = value else { return value }
        members["replicated_as"] = .string(outcome.rawValue)
        if let seconds { members["shipping_seconds"] = .number(seconds) }
        return .object(members)
    }
}

/// The first error of several publishes completing on libnats threads.
private final class LockedError: Sendable {
    private let stored = Mutex<RecDBError?>(nil)
    func set(_ error: RecDBError) { stored.withLock { $0 = $0 ?? error } }
    var value: RecDBError? { stored.withLock { $0 } }
}
