import RecKernels

/// A GGUF (version 2 or 3) model file read in place from a memory map: header, metadata, tensor table.
///
/// ```swift
/// let gguf = try GGUFFile(path: path)
/// let layers = try gguf.uint("llama.block_count")
/// let q = try gguf.tensor("blk.0.attn_q.weight")   // q.data points into the map
/// ```
public final class GGUFFile: Sendable {
    /// A metadata value of any GGUF type.
    public enum Value: Sendable, Equatable {
        /// Any unsigned integer type of the file (8 to 64 bits), widened.
        case uint(UInt64)
        /// Any signed integer type of the file (8 to 64 bits), widened.
        case int(Int64)
        /// A 32- or 64-bit float of the file, widened.
        case float(Double)
        /// A boolean stored as one byte; any non-zero byte is true.
        case bool(Bool)
        /// A length-prefixed string; bytes that are not valid UTF-8 are replaced, not refused.
        case string(String)
        /// An array of values of one type (token lists, merges, scores).
        case array([Value])
    }

    /// The tensor element types this runtime knows.
    public enum TensorType: UInt32, Sendable {
        /// The GGML type codes: float32, float16, and the 32-element block quantisations Q4_0 (18 bytes a block), Q4_1
        /// (20) and Q8_0 (34).
        case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8

        /// Elements per block and bytes per block.
        var block: (elements: Int, bytes: Int) {
            switch self {
            case .f32: return (1, 4)
            case .f16: return (1, 2)
            case .q4_0: return (32, 18)
            case .q4_1: return (32, 20)
            case .q8_0: return (32, 34)
            }
        }
    }

    /// One tensor: its shape in ggml order (`shape[0]` is the contiguous row length), type and bytes in the map.
    public struct Tensor: Sendable {
        /// The tensor's name, such as `blk.0.attn_q.weight`.
        public let name: String
        /// Dimensions in ggml order: `shape[0]` is the contiguous row length.
        public let shape: [Int]
        /// Element type.
        public let type: TensorType
        /// Byte offset from the start of the file.
        public let fileOffset: Int
        /// Size of the tensor's data in bytes.
        public let byteCount: Int
        /// The tensor's bytes, valid while the `GGUFFile` lives.
        public var data: UnsafeRawPointer { UnsafeRawPointer(bytes.base) }
        /// Read-only: a pointer into the file's read-only map.
        let bytes: SharedPointer<UInt8>
        /// Number of elements.
        public var elementCount: Int { shape.reduce(1, *) }
        /// Row length (`shape[0]`) and number of rows (product of the other dimensions).
        public var rows: Int { elementCount / max(shape.first ?? 1, 1) }
        /// Bytes of one row.
        public var rowBytes: Int { (shape.first ?? 0) / type.block.elements * type.block.bytes }
    }

    /// The file's path, for error messages.
    public let path: String
    /// GGUF format version (2 or 3).
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: Value)]
    /// Tensors in file order.
    public let tensors: [Tensor]
    /// Alignment of tensor data (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte offset of the tensor data section.
    public let dataOffset: Int
    private let file: MappedFile
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// Maps and parses `path`. Throws `missingModel` when it does not exist, `corruptModel` (naming the byte offset)
    /// when it is truncated or malformed, `unsupported` for an unknown tensor type.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        self.path = file.path
        var reader = Reader(bytes: file.bytes, path: file.path)
        let magic = try reader.u32()
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw RecMLError(.corruptModel, "not a GGUF file (magic \(String(magic, radix: 16)))", location: "\(path) @0")
        }
        version = try reader.u32()
        guard version == 2 || version == 3 else {
            throw RecMLError(.unsupported, "GGUF version \(version) (2 and 3 are supported)", location: "\(path) @4")
        }
        let tensorCount = try reader.count("tensor count")
        let kvCount = try reader.count("metadata count")
        var metadata: [(key: String, value: Value)] = []
        var metadataIndex: [String: Int] = [:]
        metadata.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let key = try reader.string()
            let type = try reader.u32()
            let value = try reader.value(type: type, key: key)
            metadataIndex[key] = metadata.count
            metadata.append((key, value))
        }
        self.metadata = metadata
        self.metadataIndex = metadataIndex
        var alignment = 32
        if let index = metadataIndex["general.alignment"], case .uint(let a) = metadata[index].value {
            guard a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw RecMLError(.corruptModel, "general.alignment \(a) is not a power of two", location: path)
            }
            alignment = Int(a)
        }
        self.alignment = alignment
        struct Info { let name: String; let shape: [Int]; let type: UInt32; let offset: UInt64; let at: Int }
        var infos: [Info] = []
        infos.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            let at = reader.offset
            let name = try reader.string()
            let dims = try reader.u32()
            guard dims >= 1, dims <= 4 else {
                throw RecMLError(.corruptModel, "tensor \(name) has \(dims) dimensions", location: "\(path) @\(at)")
            }
            var shape: [Int] = []
            for _ in 0..<dims {
                let n = try reader.u64()
                guard n > 0, n < 1 << 40 else {
                    throw RecMLError(.corruptModel, "tensor \(name) has dimension \(n)", location: "\(path) @\(at)")
                }
                shape.append(Int(n))
            }
            let type = try reader.u32()
            let offset = try reader.u64()
            infos.append(Info(name: name, shape: shape, type: type, offset: offset, at: at))
        }
        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let size = file.bytes.count
        var tensors: [Tensor] = []
        var tensorIndex: [String: Int] = [:]
        for info in infos {
            guard let type = TensorType(rawValue: info.type) else {
                throw RecMLError(
                    .unsupported, "tensor \(info.name) has ggml type \(info.type) (supported: F32, F16, Q4_0, Q4_1, Q8_0)",
                    location: "\(path) @\(info.at)")
            }
            let elements = info.shape.reduce(1, *)
            guard info.shape[0] % type.block.elements == 0 else {
                throw RecMLError(
                    .corruptModel, "tensor \(info.name): row length \(info.shape[0]) is not a multiple of the block size",
                    location: "\(path) @\(info.at)")
            }
            let bytes = elements / type.block.elements * type.block.bytes
            guard info.offset % UInt64(alignment) == 0, info.offset < UInt64(size) else {
                throw RecMLError(
                    .corruptModel, "tensor \(info.name): bad data offset \(info.offset)", location: "\(path) @\(info.at)")
            }
            let start = dataOffset + Int(info.offset)
            guard start + bytes <= size else {
                throw RecMLError(
                    .corruptModel,
                    "tensor \(info.name): data [\(start), \(start + bytes)) runs past the end of the file (\(size) bytes); truncated?",
                    location: "\(path) @\(start)")
            }
            tensorIndex[info.name] = tensors.count
            tensors.append(Tensor(
                name: info.name, shape: info.shape, type: type, fileOffset: start, byteCount: bytes,
                bytes: SharedPointer(readOnly: file.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + start)))
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    // MARK: - Metadata access

    /// The raw value of a metadata key, or nil.
    public subscript(key: String) -> Value? {
        metadataIndex[key].map { metadata[$0].value }
    }

    /// A metadata key's unsigned or signed integer value; throws `corruptModel` when absent or not an integer.
    public func uint(_ key: String) throws -> Int {
        switch self[key] {
        case .uint(let v): return Int(v)
        case .int(let v) where v >= 0: return Int(v)
        default: throw RecMLError(.corruptModel, "metadata \(key) missing or not an integer", location: path)
        }
    }

    /// A metadata key's floating-point value.
    public func float(_ key: String) throws -> Double {
        switch self[key] {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        default: throw RecMLError(.corruptModel, "metadata \(key) missing or not a number", location: path)
        }
    }

    /// A metadata key's string value.
    public func string(_ key: String) throws -> String {
        guard case .string(let s) = self[key] else {
            throw RecMLError(.corruptModel, "metadata \(key) missing or not a string", location: path)
        }
        return s
    }

    /// A metadata key's boolean value, or nil.
    public func bool(_ key: String) -> Bool? {
        if case .bool(let b) = self[key] { return b }
        return nil
    }

    /// A metadata array of strings.
    public func strings(_ key: String) throws -> [String] {
        guard case .array(let values) = self[key] else {
            throw RecMLError(.corruptModel, "metadata \(key) missing or not an array", location: path)
        }
        return try values.map {
            guard case .string(let s) = $0 else {
                throw RecMLError(.corruptModel, "metadata \(key) is not an array of strings", location: path)
            }
            return s
        }
    }

    /// A metadata array of integers.
    public func ints(_ key: String) throws -> [Int] {
        guard case .array(let values) = self[key] else {
            throw RecMLError(.corruptModel, "metadata \(key) missing or not an array", location: path)
        }
        return try values.map {
            switch $0 {
            case .int(let v): return Int(v)
            case .uint(let v): return Int(v)
            default: throw RecMLError(.corruptModel, "metadata \(key) is not an array of integers", location: path)
            }
        }
    }

    /// The tensor named `name`; throws `corruptModel` when absent.
    public func tensor(_ name: String) throws -> Tensor {
        guard let index = tensorIndex[name] else {
            throw RecMLError(.corruptModel, "tensor \(name) not found", location: path)
        }
        return tensors[index]
    }

    /// Whether a tensor named `name` exists.
    public func hasTensor(_ name: String) -> Bool { tensorIndex[name] != nil }

    /// Dequantises row `row` of a tensor to floats (for checks and embeddings; the forward pass reads blocks in place).
    public func dequantizeRow(_ tensor: Tensor, row: Int, into out: UnsafeMutablePointer<Float>) {
        let n = tensor.shape[0]
        let base = tensor.data + row * tensor.rowBytes
        switch tensor.type {
        case .f32:
            for j in 0..<n { out[j] = base.loadUnaligned(fromByteOffset: 4 * j, as: Float.self) }
        case .f16:
            for j in 0..<n { out[j] = halfToFloat(base.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)) }
        case .q8_0:
            for b in 0..<n / 32 {
                let blk = base + b * 34
                let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
                for j in 0..<32 { out[b * 32 + j] = d * Float(blk.load(fromByteOffset: 2 + j, as: Int8.self)) }
            }
        case .q4_0:
            for b in 0..<n / 32 {
                let blk = base + b * 18
                let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
                for j in 0..<16 {
                    let q = blk.load(fromByteOffset: 2 + j, as: UInt8.self)
                    out[b * 32 + j] = d * Float(Int(q & 0x0F) - 8)
                    out[b * 32 + j + 16] = d * Float(Int(q >> 4) - 8)
                }
            }
        case .q4_1:
            for b in 0..<n / 32 {
                let blk = base + b * 20
                let d = halfToFloat(blk.loadUnaligned(as: UInt16.self))
                let m = halfToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                for j in 0..<16 {
                    let q = blk.load(fromByteOffset: 4 + j, as: UInt8.self)
                    out[b * 32 + j] = d * Float(q & 0x0F) + m
                    out[b * 32 + j + 16] = d * Float(q >> 4) + m
                }
            }
        }
    }
}

/// IEEE half to float.
@inline(__always) func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    var mant = UInt32(h) & 0x3FF
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        var e: UInt32 = 0
        while mant & 0x400 == 0 { mant <<= 1; e += 1 }
        mant &= 0x3FF
        return Float(bitPattern: sign | ((127 - 15 + 1 - e) << 23) | (mant << 13))
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 127 - 15) << 23) | (mant << 13))
}

// MARK: - Reader

private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, offset + n <= bytes.count else {
            throw RecMLError(
                .corruptModel, "truncated: \(what) needs \(n) bytes at offset \(offset), file has \(bytes.count)",
                location: "\(path) @\(offset)")
        }
    }

    mutating func u8() throws -> UInt8 {
        try need(1, "u8")
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws -> UInt32 {
        try need(4, "u32")
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        try need(8, "u64")
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func count(_ what: String) throws -> Int {
        let at = offset
        let n = try u64()
        guard n < 1 << 24 else {
            throw RecMLError(.corruptModel, "implausible \(what) \(n)", location: "\(path) @\(at)")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let at = offset
        let n = try u64()
        guard n < 1 << 30 else { throw RecMLError(.corruptModel, "string length \(n)", location: "\(path) @\(at)") }
        try need(Int(n), "string")
        defer { offset += Int(n) }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(n)]), as: UTF8.self)
    }

    mutating func value(type: UInt32, key: String) throws -> GGUFFile.Value {
        let at = offset
        switch type {
        case 0: return .uint(UInt64(try u8()))
        case 1: return .int(Int64(Int8(bitPattern: try u8())))
        case 2:
            try need(2, key)
            defer { offset += 2 }
            return .uint(UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case 3:
            try need(2, key)
            defer { offset += 2 }
            return .int(Int64(bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case 4: return .uint(UInt64(try u32()))
        case 5: return .int(Int64(Int32(bitPattern: try u32())))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7: return .bool(try u8() != 0)
        case 8: return .string(try string())
        case 9:
            let elementType = try u32()
            let n = try count("array length of \(key)")
            var values: [GGUFFile.Value] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(type: elementType, key: key)) }
            return .array(values)
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default:
            throw RecMLError(.corruptModel, "metadata \(key) has unknown value type \(type)", location: "\(path) @\(at)")
        }
    }
}
