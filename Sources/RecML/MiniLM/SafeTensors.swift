import Foundation
import Synchronization

/// A `.safetensors` file mapped read-only: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the data. F32 tensors are read in place from the map.
public final class SafeTensors: Sendable {
    /// One tensor's entry in the header.
    public struct Entry: Sendable {
        /// The dtype as written in the header, such as `F32`.
        public let dtype: String
        /// The dimensions, outermost first.
        public let shape: [Int]
        /// Byte range of the data, relative to the start of the data section.
        public let range: Range<Int>
    }

    /// The mapped file.
    public let file: MappedFile
    /// Every tensor in the header, by name.
    public let entries: [String: Entry]
    private let dataStart: Int
    /// Addresses of copies of tensors whose data is not 4-byte aligned in the map (none in well-formed files),
    /// freed with the file. Addresses, not pointers, so the list is plain data under its lock.
    private let copies = Mutex<[UInt]>([])

    /// Maps `path` and parses its header. Throws `missingModel` when the file is absent and `corruptModel` naming the
    /// file when the header is truncated, not JSON, or points outside the file.
    public init(path: String) throws {
        file = try MappedFile(path: path)
        let bytes = file.bytes
        func corrupt(_ message: String) -> RecMLError {
            RecMLError(.corruptModel, message, location: path)
        }
        guard bytes.count >= 8 else {
            throw corrupt("file is \(bytes.count) bytes, too short for a safetensors header")
        }
        var headerLength: UInt64 = 0
        for i in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[i]) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw corrupt(
                "header says \(headerLength) bytes but the file has only \(bytes.count - 8) after it (truncated?)")
        }
        dataStart = 8 + Int(headerLength)
        let header = Data(bytes[8..<dataStart])
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw corrupt("header is not a JSON object")
        }
        let dataLength = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in json where name != "__metadata__" {
            guard let object = value as? [String: Any], let dtype = object["dtype"] as? String,
                let shape = (object["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (object["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2
            else {
                throw RecMLError(.corruptModel, "malformed header entry", location: "\(path) tensor \(name)")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw RecMLError(
                    .corruptModel,
                    "data range \(offsets[0])..<\(offsets[1]) is outside the \(dataLength) data bytes (truncated?)",
                    location: "\(path) tensor \(name)"
                )
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
    }

    deinit {
        for address in copies.withLock({ $0 }) { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// The F32 tensor `name`, checked to have `shape`; read in place from the map.
    /// Throws `corruptModel` naming the file and tensor when it is missing, not F32, or of another shape.
    public func floats(_ name: String, shape: [Int]) throws -> UnsafeBufferPointer<Float> {
        let location = "\(file.path) tensor \(name)"
        guard let entry = entries[name] else {
            throw RecMLError(.corruptModel, "tensor is missing", location: location)
        }
        guard entry.dtype == "F32" else {
            throw RecMLError(.corruptModel, "dtype is \(entry.dtype), expected F32", location: location)
        }
        guard entry.shape == shape else {
            throw RecMLError(.corruptModel, "shape is \(entry.shape), expected \(shape)", location: location)
        }
        let count = shape.reduce(1, *)
        guard entry.range.count == count * 4 else {
            throw RecMLError(
                .corruptModel, "has \(entry.range.count) bytes, expected \(count * 4) for shape \(shape)",
                location: location)
        }
        let start = dataStart + entry.range.lowerBound
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + count * 4)])
        if count == 0 { return UnsafeBufferPointer(start: nil, count: 0) }
        if Int(bitPattern: raw.baseAddress!) % MemoryLayout<Float>.alignment == 0 {
            return UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: Float.self), count: count)
        }
        let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        _ = copy.withMemoryRebound(to: UInt8.self) { $0.initialize(from: raw) }
        copies.withLock { $0.append(UInt(bitPattern: copy.baseAddress)) }
        return UnsafeBufferPointer(copy)
    }
}
