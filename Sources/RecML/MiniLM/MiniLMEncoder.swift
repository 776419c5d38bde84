import COpenBLAS
import CRecML
import Foundation
import RecKernels
import Synchronization

/// The all-MiniLM-L6-v2 sentence encoder: text in, a 384-dimensional unit vector out, computed on the CPU from the
/// installed `model.safetensors` (read in place from a memory map) and `vocab.txt`.
///
/// The forward pass is BERT's (6 post-LayerNorm layers, 12 heads, hidden 384, FFN 1536, exact GELU), followed by
/// mean pooling over the tokens and L2 normalisation, as sentence-transformers does. Inputs are cut to the
/// `max_seq_length` of `sentence_bert_config.json` (256 tokens with `[CLS]` and `[SEP]`).
///
/// ```swift
/// let encoder = try MiniLMEncoder.installed()        // after `recctl models install minilm`
/// let vectors = encoder.encode(["red stapler", "blue pen"])   // two [Float] of 384, unit length
/// ```
///
/// An encoder is immutable and may be shared between threads; each `encode` call uses its own scratch memory.
public final class MiniLMEncoder: Sendable {
    /// Length of every embedding: 384.
    public let dimension: Int
    /// The most tokens a text is encoded with, `[CLS]` and `[SEP]` included.
    public let maxTokens: Int
    /// The tokenizer, built from `vocab.txt`.
    public let tokenizer: WordPieceTokenizer
    /// The folder the model was loaded from.
    public let folder: String

    private let tensors: SafeTensors
    private let weights: Weights

    static let hidden = 384
    static let heads = 12
    static let headSize = 32
    static let intermediate = 1536
    static let layerCount = 6
    static let positions = 512
    static let eps: Float = 1e-12

    /// Loads the model from `folder` (holding `model.safetensors`, `vocab.txt` and `sentence_bert_config.json`).
    /// Throws `missingModel` when a file is absent and `corruptModel`, naming the file and tensor, when a file is
    /// truncated or a tensor is missing or has the wrong shape.
    public init(folder: String) throws {
        self.folder = folder
        self.maxTokens = try Self.readMaxSequenceLength(folder + "/sentence_bert_config.json")
        self.tokenizer = try WordPieceTokenizer(vocabPath: folder + "/vocab.txt", maxTokens: maxTokens)
        self.tensors = try SafeTensors(path: folder + "/model.safetensors")
        self.weights = try Weights(tensors, vocabulary: tokenizer.vocabularySize)
        self.dimension = Self.hidden
    }

    /// Loads the model installed by `recctl models install minilm` (see `ModelFiles.minilm`).
    /// Throws `missingModel` naming that command when it is not installed.
    public static func installed() throws -> MiniLMEncoder {
        try ModelFiles.minilm.checkInstalled()
        return try MiniLMEncoder(folder: ModelFiles.minilm.folder)
    }

    /// `max_seq_length` from sentence-transformers' configuration (the shipped `tokenizer.json` says 128, which is
    /// not what sentence-transformers uses). Missing file: `missingModel`; no usable value: `corruptModel`.
    private static func readMaxSequenceLength(_ path: String) throws -> Int {
        let file = try MappedFile(path: path)
        let object = try? JSONSerialization.jsonObject(with: Data(file.bytes)) as? [String: Any]
        guard let length = (object?["max_seq_length"] as? NSNumber)?.intValue, length >= 2, length <= positions else {
            throw RecMLError(.corruptModel, "no max_seq_length between 2 and \(positions)", location: path)
        }
        return length
    }

    /// The token ids of `text` as the model sees them: `[CLS]`, word pieces, `[SEP]`, at most `maxTokens`.
    public func tokenize(_ text: String) -> [Int32] {
        tokenizer.tokenize(text)
    }

    /// The embedding of one text: 384 floats of unit length (the empty text too: it is `[CLS] [SEP]`).
    public func encode(_ text: String) -> [Float] {
        encode([text], threads: 1)[0]
    }

    /// The embeddings of `texts`, in order. Texts are tokenized, sorted by token count and packed into chunks of
    /// similar length without padding; `threads` workers (at least 1) take chunks in turn. OpenBLAS is kept to one
    /// thread per worker.
    public func encode(_ texts: [String], threads: Int = 2) -> [[Float]] {
        if texts.isEmpty { return [] }
        let threads = max(1, min(threads, texts.count))
        openblas_set_num_threads(1)
        // Tokenize in parallel.
        var ids = [[Int32]](repeating: [], count: texts.count)
        ids.withUnsafeMutableBufferPointer { out in
            let out = SharedPointer(out.baseAddress!)  // disjoint writes: worker w writes w, w + threads, …
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                var i = worker
                while i < texts.count {
                    out.base[i] = tokenizer.tokenize(texts[i])
                    i += threads
                }
            }
        }
        // Longest first, so the big chunks start early and the short ones fill in at the end.
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var chunks: [Range<Int>] = []
        var start = 0
        var tokens = 0
        for (position, index) in order.enumerated() {
            if tokens > 0 && tokens + ids[index].count > Self.chunkTokens {
                chunks.append(start..<position)
                start = position
                tokens = 0
            }
            tokens += ids[index].count
        }
        chunks.append(start..<order.count)
        let sequences = ids
        let ranges = chunks
        let largestChunk = chunks.map { chunk in order[chunk].reduce(0) { $0 + sequences[$1].count } }.max() ?? 0
        let longest = sequences.map(\.count).max() ?? 0

        let output = UnsafeMutableBufferPointer<Float>.allocate(capacity: texts.count * dimension)
        defer { output.deallocate() }
        let next = ChunkCounter()
        let shared = SharedPointer(output.baseAddress!)  // disjoint writes: one vector per text, each chunk its own
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let workspace = Workspace(tokens: largestChunk, longest: longest)
            while let chunk = next.take(below: ranges.count) {
                let members = order[ranges[chunk]]
                forward(members.map { sequences[$0] }, workspace: workspace) { member, vector in
                    let index = members[members.startIndex + member]
                    (shared.base + index * Self.hidden).update(from: vector, count: Self.hidden)
                }
            }
        }
        return (0..<texts.count).map { Array(output[($0 * dimension)..<(($0 + 1) * dimension)]) }
    }

    /// Token budget of one chunk of sequences run through the layers together.
    static let chunkTokens = 1024

    // MARK: - Forward pass

    /// Runs `sequences` (concatenated, no padding) through the model and hands each one's pooled, normalised
    /// embedding to `emit`, valid only during the call.
    private func forward(
        _ sequences: [[Int32]], workspace: Workspace, emit: (Int, UnsafePointer<Float>) -> Void
    ) {
        let h = Self.hidden
        let total = sequences.reduce(0) { $0 + $1.count }
        workspace.reserve(tokens: total)
        let x = workspace.x
        let w = weights
        // Embeddings: word + position + token type 0, then LayerNorm.
        var row = 0
        for sequence in sequences {
            for (position, id) in sequence.enumerated() {
                let out = x + row * h
                let word = w.wordEmbeddings.base + Int(id) * h
                let place = w.positionEmbeddings.base + position * h
                var j = 0
                while j < h {
                    let sum = MiniLMKernels.load(word + j) + MiniLMKernels.load(place + j)
                        + MiniLMKernels.load(w.typeEmbedding.base + j)
                    MiniLMKernels.store(sum, out + j)
                    j += 16
                }
                row += 1
            }
        }
        MiniLMKernels.addBiasLayerNorm(
            x, adding: nil, bias: nil, rows: total, width: h, gamma: w.embeddingNormWeight.base,
            beta: w.embeddingNormBias.base, eps: Self.eps)

        let qkv = workspace.qkv
        let context = workspace.context
        let scratch = workspace.scratch
        let scores = workspace.scores
        let scale = 1 / Float(Self.headSize).squareRoot()
        for layer in w.layers {
            for (part, (weight, bias)) in [(layer.query.base, layer.queryBias.base), (layer.key.base, layer.keyBias.base),
                (layer.value.base, layer.valueBias.base)].enumerated()
            {
                MiniLMKernels.linear(
                    x, lda: h, rows: total, inputs: h, weight: weight, bias: bias, outputs: h,
                    into: qkv + part * h, ldc: 3 * h)
            }
            // Attention, one sequence and one head at a time.
            var offset = 0
            for sequence in sequences {
                let n = sequence.count
                let base = qkv + offset * 3 * h
                for head in 0..<Self.heads {
                    let column = head * Self.headSize
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans,
                        Int32(n), Int32(n), Int32(Self.headSize),
                        scale, base + column, Int32(3 * h), base + h + column, Int32(3 * h), 0, scores, Int32(n))
                    recml_softmax_rows(scores, n, n, n)
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans,
                        Int32(n), Int32(Self.headSize), Int32(n),
                        1, scores, Int32(n), base + 2 * h + column, Int32(3 * h), 0,
                        context + offset * h + column, Int32(h))
                }
                offset += n
            }
            MiniLMKernels.linear(
                context, lda: h, rows: total, inputs: h, weight: layer.attentionOutput.base, bias: nil, outputs: h,
                into: scratch, ldc: h)
            MiniLMKernels.addBiasLayerNorm(
                x, adding: scratch, bias: layer.attentionOutputBias.base, rows: total, width: h,
                gamma: layer.attentionNormWeight.base, beta: layer.attentionNormBias.base, eps: Self.eps)
            let inner = workspace.inner
            MiniLMKernels.linear(
                x, lda: h, rows: total, inputs: h, weight: layer.intermediate.base, bias: layer.intermediateBias.base,
                outputs: Self.intermediate, into: inner, ldc: Self.intermediate)
            recml_gelu(inner, total * Self.intermediate)
            MiniLMKernels.linear(
                inner, lda: Self.intermediate, rows: total, inputs: Self.intermediate, weight: layer.output.base,
                bias: nil, outputs: h, into: scratch, ldc: h)
            MiniLMKernels.addBiasLayerNorm(
                x, adding: scratch, bias: layer.outputBias.base, rows: total, width: h,
                gamma: layer.outputNormWeight.base, beta: layer.outputNormBias.base, eps: Self.eps)
        }
        // Mean pooling over each sequence's tokens, then L2 normalisation.
        let pooled = workspace.pooled
        var offset = 0
        for (member, sequence) in sequences.enumerated() {
            let n = sequence.count
            var j = 0
            while j < h {
                var sum = MiniLMKernels.V()
                for r in offset..<(offset + n) { sum += MiniLMKernels.load(x + r * h + j) }
                MiniLMKernels.store(sum / Float(n), pooled + j)
                j += 16
            }
            var squares = MiniLMKernels.V()
            j = 0
            while j < h {
                let v = MiniLMKernels.load(pooled + j)
                squares += v * v
                j += 16
            }
            let inverse = 1 / max(squares.sum().squareRoot(), 1e-12)
            j = 0
            while j < h {
                MiniLMKernels.store(MiniLMKernels.load(pooled + j) * inverse, pooled + j)
                j += 16
            }
            emit(member, pooled)
            offset += n
        }
    }
}

// MARK: - Weights and scratch memory

extension MiniLMEncoder {
    /// Pointers into the mapped safetensors file, checked for shape at load. Read-only: the map is `PROT_READ`
    /// (and misaligned tensors are copied once, at load), and `tensors` keeps it alive as long as the encoder.
    struct Weights {
        struct Layer {
            var query, queryBias, key, keyBias, value, valueBias: SharedPointer<Float>
            var attentionOutput, attentionOutputBias, attentionNormWeight, attentionNormBias: SharedPointer<Float>
            var intermediate, intermediateBias, output, outputBias: SharedPointer<Float>
            var outputNormWeight, outputNormBias: SharedPointer<Float>
        }
        var wordEmbeddings, positionEmbeddings, typeEmbedding: SharedPointer<Float>
        var embeddingNormWeight, embeddingNormBias: SharedPointer<Float>
        var layers: [Layer]

        init(_ file: SafeTensors, vocabulary: Int) throws {
            let h = MiniLMEncoder.hidden
            let f = MiniLMEncoder.intermediate
            func tensor(_ name: String, _ shape: [Int]) throws -> SharedPointer<Float> {
                SharedPointer(readOnly: try file.floats(name, shape: shape).baseAddress!)
            }
            let words = file.entries["embeddings.word_embeddings.weight"]?.shape.first ?? vocabulary
            guard words >= vocabulary else {
                throw RecMLError(
                    .corruptModel, "has \(words) rows but vocab.txt has \(vocabulary) tokens",
                    location: "\(file.file.path) tensor embeddings.word_embeddings.weight")
            }
            wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [words, h])
            positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [MiniLMEncoder.positions, h])
            typeEmbedding = try tensor("embeddings.token_type_embeddings.weight", [2, h])
            embeddingNormWeight = try tensor("embeddings.LayerNorm.weight", [h])
            embeddingNormBias = try tensor("embeddings.LayerNorm.bias", [h])
            layers = try (0..<MiniLMEncoder.layerCount).map { i in
                let p = "encoder.layer.\(i)."
                return Layer(
                    query: try tensor(p + "attention.self.query.weight", [h, h]),
                    queryBias: try tensor(p + "attention.self.query.bias", [h]),
                    key: try tensor(p + "attention.self.key.weight", [h, h]),
                    keyBias: try tensor(p + "attention.self.key.bias", [h]),
                    value: try tensor(p + "attention.self.value.weight", [h, h]),
                    valueBias: try tensor(p + "attention.self.value.bias", [h]),
                    attentionOutput: try tensor(p + "attention.output.dense.weight", [h, h]),
                    attentionOutputBias: try tensor(p + "attention.output.dense.bias", [h]),
                    attentionNormWeight: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                    attentionNormBias: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                    intermediate: try tensor(p + "intermediate.dense.weight", [f, h]),
                    intermediateBias: try tensor(p + "intermediate.dense.bias", [f]),
                    output: try tensor(p + "output.dense.weight", [h, f]),
                    outputBias: try tensor(p + "output.dense.bias", [h]),
                    outputNormWeight: try tensor(p + "output.LayerNorm.weight", [h]),
                    outputNormBias: try tensor(p + "output.LayerNorm.bias", [h])
                )
            }
        }
    }

    /// One worker's activations, grown to the largest chunk it sees.
    final class Workspace {
        private(set) var capacity = 0
        private(set) var x, qkv, context, scratch, inner: UnsafeMutablePointer<Float>
        let scores: UnsafeMutablePointer<Float>
        let pooled: UnsafeMutablePointer<Float>

        init(tokens: Int, longest: Int) {
            x = .allocate(capacity: 1)
            qkv = .allocate(capacity: 1)
            context = .allocate(capacity: 1)
            scratch = .allocate(capacity: 1)
            inner = .allocate(capacity: 1)
            scores = .allocate(capacity: longest * longest)
            pooled = .allocate(capacity: MiniLMEncoder.hidden)
            reserve(tokens: tokens)
        }

        func reserve(tokens: Int) {
            guard tokens > capacity else { return }
            for buffer in [x, qkv, context, scratch, inner] { buffer.deallocate() }
            let h = MiniLMEncoder.hidden
            x = .allocate(capacity: tokens * h)
            qkv = .allocate(capacity: tokens * 3 * h)
            context = .allocate(capacity: tokens * h)
            scratch = .allocate(capacity: tokens * h)
            inner = .allocate(capacity: tokens * MiniLMEncoder.intermediate)
            capacity = tokens
        }

        deinit {
            for buffer in [x, qkv, context, scratch, inner, scores, pooled] { buffer.deallocate() }
        }
    }
}

/// Hands out chunk numbers to workers.
private final class ChunkCounter: Sendable {
    private let next = Atomic<Int>(0)

    func take(below limit: Int) -> Int? {
        let taken = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return taken < limit ? taken : nil
    }
}
