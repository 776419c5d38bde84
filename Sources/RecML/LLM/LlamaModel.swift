#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRecML
import RecKernels

/// Hyper-parameters of a llama-architecture model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    /// Transformer blocks (`llama.block_count`).
    public var layers: Int
    /// Model width (`llama.embedding_length`).
    public var dim: Int
    /// Hidden width of the SwiGLU feed-forward block (`llama.feed_forward_length`).
    public var ffnDim: Int
    /// Query heads (`llama.attention.head_count`).
    public var heads: Int
    /// Key/value heads (`llama.attention.head_count_kv`); each serves heads / kvHeads query heads.
    public var kvHeads: Int
    /// Width of one head (`llama.rope.dimension_count`, else dim / heads).
    public var headDim: Int
    /// Vocabulary size (rows of the token embedding).
    public var vocab: Int
    /// Trained context length; KV caches are clamped to it.
    public var contextLength: Int
    /// RoPE frequency base (`llama.rope.freq_base`).
    public var ropeBase: Float
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    public var normEps: Float

    /// Width of the keys (and values) of one position: kvHeads * headDim.
    public var kvDim: Int { kvHeads * headDim }
}

/// A matrix stored in a quantised block format, read in place from the map (or owned when converted at load).
struct QMatrix: Sendable {
    enum Kind { case q4_1, q8_0 }
    let kind: Kind
    /// Read-only: the file's read-only map, or blocks converted at load and freed with the model.
    private let bytes: SharedPointer<UInt8>
    let rows: Int
    let cols: Int
    var data: UnsafeRawPointer { UnsafeRawPointer(bytes.base) }
    var blocks: Int { cols / 32 }
    /// The Q4_1 rows regrouped by eight (`recml_pack_q4_1`, made at load and freed with the model) for products
    /// with several activation rows: one lane per row, so scales, mins and activation groups serve eight rows per
    /// instruction; the sums are the in-place kernel's, bit for bit.
    private let regrouped: SharedPointer<UInt8>?
    var packed: UnsafeRawPointer? { regrouped.map { UnsafeRawPointer($0.base) } }

    init(kind: Kind, data: UnsafeRawPointer, rows: Int, cols: Int, packed: UnsafeRawPointer? = nil) {
        self.kind = kind
        self.bytes = SharedPointer(readOnly: data.assumingMemoryBound(to: UInt8.self))
        self.rows = rows
        self.cols = cols
        regrouped = packed.map { SharedPointer(readOnly: $0.assumingMemoryBound(to: UInt8.self)) }
    }
}

/// The KV cache of one sequence: keys and values of every layer for positions 0..<length, stored as IEEE halves
/// (as llama.cpp does by default) in [layer][kv head][position][head dim] order, so one head's keys are contiguous.
public final class KVCache {
    /// Maximum number of positions.
    public let capacity: Int
    /// Positions filled so far.
    public internal(set) var length = 0
    let layers: Int
    let kvHeads: Int
    let headDim: Int
    let keys: UnsafeMutablePointer<UInt16>
    let values: UnsafeMutablePointer<UInt16>

    init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.capacity = capacity
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        keys = .allocate(capacity: layers * kvHeads * capacity * headDim)
        values = .allocate(capacity: layers * kvHeads * capacity * headDim)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Keys of one layer and KV head, position 0.
    @inline(__always) func key(_ layer: Int, _ head: Int) -> UnsafeMutablePointer<UInt16> {
        keys + (layer * kvHeads + head) * capacity * headDim
    }

    /// Values of one layer and KV head, position 0.
    @inline(__always) func value(_ layer: Int, _ head: Int) -> UnsafeMutablePointer<UInt16> {
        values + (layer * kvHeads + head) * capacity * headDim
    }

    /// Makes this cache hold the first `count` positions of `other` (for shared prompt prefixes and beam search).
    public func copy(from other: KVCache, count: Int? = nil) {
        precondition(other.layers == layers && other.kvHeads == kvHeads && other.headDim == headDim)
        let n = min(count ?? other.length, other.length, capacity)
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                key(layer, head).update(from: other.key(layer, head), count: n * headDim)
                value(layer, head).update(from: other.value(layer, head), count: n * headDim)
            }
        }
        length = n
    }

    /// Appends positions `positions` of `other` after this cache's last position (a prompt segment kept apart and
    /// put back behind the same prefix: the positions must be the ones `other`'s rows were computed at).
    public func append(from other: KVCache, positions: Range<Int>) {
        precondition(other.layers == layers && other.kvHeads == kvHeads && other.headDim == headDim)
        precondition(positions.upperBound <= other.length && length + positions.count <= capacity)
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                (key(layer, head) + length * headDim)
                    .update(from: other.key(layer, head) + positions.lowerBound * headDim, count: positions.count * headDim)
                (value(layer, head) + length * headDim)
                    .update(from: other.value(layer, head) + positions.lowerBound * headDim, count: positions.count * headDim)
            }
        }
        length += positions.count
    }

    /// Forgets everything after `count` positions.
    public func truncate(to count: Int) { length = min(length, max(0, count)) }
}

/// A llama-architecture transformer over a GGUF file: Q4_1 / Q8_0 matrices used in place, activations quantised
/// to 8 bits on the fly for the integer dot products, float32 KV cache, rows of each matmul split across threads.
public final class LlamaModel {
    /// Hyper-parameters read from the file.
    public let config: LlamaConfig
    /// The file the weights are read from, in place.
    public let gguf: GGUFFile
    let tokenEmbedding: GGUFFile.Tensor
    let output: QMatrix
    let outputNorm: [Float]
    struct Layer {
        let attnNorm: [Float]
        let ffnNorm: [Float]
        let wq: QMatrix, wk: QMatrix, wv: QMatrix, wo: QMatrix
        let gate: QMatrix, up: QMatrix, down: QMatrix
    }
    let layers: [Layer]
    let pool: WorkerPool
    private var owned: [UnsafeMutableRawPointer] = []
    let invFreq: [Float]
    var work = Workspace()
    /// A reusable one-element cache list for single-sequence passes, and an empty cache to park in it.
    var single: [KVCache] = []
    lazy var placeholder = KVCache(layers: 0, kvHeads: 0, headDim: 0, capacity: 0)

    /// Loads the model in `gguf`, running matmuls on `threads` threads (the caller's plus `threads - 1` workers).
    public init(gguf: GGUFFile, threads: Int = 2) throws {
        self.gguf = gguf
        let arch = try gguf.string("general.architecture")
        guard arch == "llama" else {
            throw RecMLError(.unsupported, "architecture '\(arch)' (only llama)", location: gguf.path)
        }
        let heads = try gguf.uint("llama.attention.head_count")
        let dim = try gguf.uint("llama.embedding_length")
        let embd = try gguf.tensor("token_embd.weight")
        config = LlamaConfig(
            layers: try gguf.uint("llama.block_count"),
            dim: dim,
            ffnDim: try gguf.uint("llama.feed_forward_length"),
            heads: heads,
            kvHeads: (try? gguf.uint("llama.attention.head_count_kv")) ?? heads,
            headDim: (try? gguf.uint("llama.rope.dimension_count")) ?? dim / heads,
            vocab: embd.rows,
            contextLength: (try? gguf.uint("llama.context_length")) ?? 2048,
            ropeBase: Float((try? gguf.float("llama.rope.freq_base")) ?? 10000),
            normEps: Float((try? gguf.float("llama.attention.layer_norm_rms_epsilon")) ?? 1e-5))
        guard config.headDim * heads == dim, config.dim % 32 == 0, config.ffnDim % 32 == 0,
            heads % config.kvHeads == 0, heads / config.kvHeads <= 8, config.headDim % 16 == 0
        else {
            throw RecMLError(.unsupported, "unsupported shape \(config)", location: gguf.path)
        }
        tokenEmbedding = embd
        pool = WorkerPool(threads: threads)
        let c0 = config
        invFreq = (0..<c0.headDim / 2).map {
            Float(1.0 / pow(Double(c0.ropeBase), Double(2 * $0) / Double(c0.headDim)))
        }
        var owned: [UnsafeMutableRawPointer] = []
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            let t = try gguf.tensor(name)
            guard t.elementCount == n else {
                throw RecMLError(.corruptModel, "tensor \(name) has \(t.elementCount) elements, expected \(n)",
                                 location: "\(gguf.path) @\(t.fileOffset)")
            }
            var out = [Float](repeating: 0, count: n)
            out.withUnsafeMutableBufferPointer { gguf.dequantizeRow(t, row: 0, into: $0.baseAddress!) }
            return out
        }
        func matrix(_ name: String, rows: Int, cols: Int) throws -> QMatrix {
            let t = try gguf.tensor(name)
            guard t.shape.count == 2, t.shape[0] == cols, t.shape[1] == rows else {
                throw RecMLError(.corruptModel, "tensor \(name) has shape \(t.shape), expected [\(cols), \(rows)]",
                                 location: "\(gguf.path) @\(t.fileOffset)")
            }
            return try Self.matrix(t, gguf: gguf, owned: &owned)
        }
        var layers: [Layer] = []
        let c = config
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            layers.append(Layer(
                attnNorm: try vector(p + "attn_norm.weight", c.dim),
                ffnNorm: try vector(p + "ffn_norm.weight", c.dim),
                wq: try matrix(p + "attn_q.weight", rows: c.dim, cols: c.dim),
                wk: try matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.dim),
                wv: try matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.dim),
                wo: try matrix(p + "attn_output.weight", rows: c.dim, cols: c.dim),
                gate: try matrix(p + "ffn_gate.weight", rows: c.ffnDim, cols: c.dim),
                up: try matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: c.dim),
                down: try matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffnDim)))
        }
        self.layers = layers
        outputNorm = try vector("output_norm.weight", c.dim)
        if gguf.hasTensor("output.weight") {
            output = try matrix("output.weight", rows: c.vocab, cols: c.dim)
        } else {
            output = try matrix("token_embd.weight", rows: c.vocab, cols: c.dim)  // tied LM head
        }
        self.owned = owned
    }

    deinit {
        for p in owned { p.deallocate() }
        work.free()
    }

    /// Uses Q4_1 and Q8_0 in place; converts F32, F16 and Q4_0 matrices to Q8_0 once at load.
    private static func matrix(_ t: GGUFFile.Tensor, gguf: GGUFFile, owned: inout [UnsafeMutableRawPointer]) throws
        -> QMatrix
    {
        let rows = t.rows, cols = t.shape[0]
        guard cols % 32 == 0 else {
            throw RecMLError(.unsupported, "tensor \(t.name): row length \(cols) not a multiple of 32",
                             location: "\(gguf.path) @\(t.fileOffset)")
        }
        switch t.type {
        case .q4_1:
            // Regrouped by eight rows for batched products (prompt chunks, batched decoding), where the CPU has the
            // kernels for it; a single row keeps the in-place kernel.
            // `RECML_PACKED_Q4=0` keeps the in-place kernel everywhere (for measuring what the regrouping saves).
            let regroup = getenv("RECML_PACKED_Q4").map { String(cString: $0) != "0" } ?? true
            guard regroup, rows % 8 == 0, recml_has_avx2() != 0 else {
                return QMatrix(kind: .q4_1, data: t.data, rows: rows, cols: cols)
            }
            let packed = UnsafeMutableRawPointer.allocate(byteCount: rows / 8 * (cols / 32) * 192, alignment: 64)
            owned.append(packed)
            recml_pack_q4_1(t.data, Int32(cols / 32), Int32(rows), packed)
            return QMatrix(kind: .q4_1, data: t.data, rows: rows, cols: cols, packed: UnsafeRawPointer(packed))
        case .q8_0: return QMatrix(kind: .q8_0, data: t.data, rows: rows, cols: cols)
        case .f32, .f16, .q4_0:
            let blocks = cols / 32
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: rows * blocks * 34, alignment: 64)
            owned.append(buffer)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            let q = UnsafeMutablePointer<Int8>.allocate(capacity: cols)
            let d = UnsafeMutablePointer<Float>.allocate(capacity: blocks)
            defer { row.deallocate(); q.deallocate(); d.deallocate() }
            for r in 0..<rows {
                gguf.dequantizeRow(t, row: r, into: row)
                recml_quantize_q8(row, Int32(cols), q, d, nil)
                for b in 0..<blocks {
                    let blk = buffer + (r * blocks + b) * 34
                    blk.storeBytes(of: Float16Bits.from(d[b]), as: UInt16.self)
                    (blk + 2).copyMemory(from: q + b * 32, byteCount: 32)
                }
            }
            return QMatrix(kind: .q8_0, data: UnsafeRawPointer(buffer), rows: rows, cols: cols)
        }
    }

    /// A new, empty KV cache for up to `capacity` positions (clamped to the trained context length).
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.layers, kvHeads: config.kvHeads, headDim: config.headDim, capacity: min(max(1, capacity), config.contextLength))
    }

    /// Number of threads matmuls are split across.
    public var threads: Int { pool.threads }
}

/// Float to IEEE half bits (round to nearest even), for scales of blocks converted at load.
enum Float16Bits {
    static func from(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exp = Int((bits >> 23) & 0xFF) - 127 + 15
        var mant = bits & 0x7F_FFFF
        if exp >= 31 { return sign | 0x7C00 }
        if exp <= 0 {
            if exp < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - exp)
            var half = mant >> shift
            let rem = mant & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(exp) << 10 | (mant >> 13)
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
}
