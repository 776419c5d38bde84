import Foundation

/// Content-based model: TF-IDF over each item's title, description, category path, brand and tags, reduced by a
/// truncated SVD (randomised, Halko–Martinsson–Tropp) to dense vectors that the HNSW index serves with cosine.
///
/// Trained on every item of the catalog, with or without events, so an item nobody has met yet is recommendable.
/// The stored ``ContentProjection`` (vocabulary, idf and the SVD basis) turns a new item's text into its vector in
/// the same transaction that inserts it. A user's score for an item is the cosine between the item and the
/// user's recency profile (``ItemVectorProfile``).
public struct ContentModel: Recommender {
    /// Training knobs; `init()` gives the defaults written beside each field. Codable so a model spec can store them.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Dimensions of the item vectors after SVD.
        public var dimensions = 128
        /// Terms that occur in fewer items are dropped.
        public var minDocumentFrequency = 2
        /// Whether words lose English plural endings (`boots` → `boot`) before counting (default true).
        public var stemming = true
        /// Power iterations of the randomised SVD (more: closer to the exact SVD).
        public var powerIterations = 2
        /// Seeds the SVD's random test matrix; equal seeds and catalogs give equal vectors (default 7).
        public var seed: UInt64 = 7
        /// The defaults: 128 dimensions, terms in at least 2 items, stemming on, 2 power iterations, seed 7.
        public init() {}
    }

    /// The model's name in reports (default `ModelKind.content.rawValue`).
    public let name: String
    /// The knobs it was trained with.
    public let parameters: Parameters
    /// Vocabulary, idf and SVD basis: embeds items written after training into the same space.
    public let projection: ContentProjection
    /// Row-major `itemLimit × dimension`, unit length; zero rows for items without known terms.
    public let itemVectors: [Float]
    /// Whether each item id has a vector (a non-zero row of ``itemVectors``).
    let hasVector: [Bool]

    /// Length of each item vector: `parameters.dimensions`, or less when the vocabulary or item count is smaller.
    public var dimension: Int { projection.dimension }

    /// Learns the vocabulary and the SVD basis from `items` (every item of the catalog) and computes their vectors.
    public init(name: String = ModelKind.content.rawValue, items: [Item], itemLimit: Int, parameters: Parameters = Parameters()) {
        self.name = name
        self.parameters = parameters
        let analyzer = TextAnalyzer(stemming: parameters.stemming)
        let documents = items.map { analyzer.terms(of: $0) }
        var frequency: [String: Int] = [:]
        for document in documents { for term in document.keys { frequency[term, default: 0] += 1 } }
        let vocabulary = frequency.filter { $0.value >= parameters.minDocumentFrequency }.keys.sorted()
        var termIndex: [String: Int32] = [:]
        for (index, term) in vocabulary.enumerated() { termIndex[term] = Int32(index) }
        let count = Float(max(items.count, 1))
        let idf = vocabulary.map { Float(log((1 + count) / (1 + Float(frequency[$0]!)))) + 1 }
        // Sparse TF-IDF rows, unit length.
        var rowStart = [0], columns: [Int32] = [], values: [Float] = []
        for document in documents {
            let row = ContentProjection.tfidf(document, terms: termIndex, idf: idf)
            columns.append(contentsOf: row.map(\.0))
            values.append(contentsOf: row.map(\.1))
            rowStart.append(columns.count)
        }
        let sparse = SparseRows(rowStart: rowStart, columns: columns, values: values, columnCount: vocabulary.count)
        let basis = Self.truncatedSVDBasis(sparse, rank: parameters.dimensions, powerIterations: parameters.powerIterations, seed: parameters.seed)
        let projection = ContentProjection(
            analyzer: analyzer, terms: termIndex, idf: idf, basis: basis.values, dimension: basis.rank)
        self.projection = projection
        var vectors = [Float](repeating: 0, count: itemLimit * basis.rank)
        for (row, item) in items.enumerated() where Int(item.internalID) < itemLimit {
            let range = sparse.rowStart[row]..<sparse.rowStart[row + 1]
            guard !range.isEmpty else { continue }
            let vector = projection.project(zip(sparse.columns[range], sparse.values[range]).map { ($0, $1) })
            if let vector {
                let offset = Int(item.internalID) * basis.rank
                for d in 0..<basis.rank { vectors[offset + d] = vector[d] }
            }
        }
        itemVectors = vectors
        hasVector = ItemVectorProfile.rowsWithVectors(vectors, dimension: basis.rank)
    }

    /// The item's unit-length content vector; nil for an item past `itemLimit` or without vocabulary terms.
    public func itemVector(_ item: UInt32) -> [Float]? {
        ItemVectorProfile.vector(item, itemVectors, dimension)
    }

    /// Scores for a user as serving ranks them: see ``ItemVectorProfile``.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        ItemVectorProfile.score(
            history: history, itemVectors: itemVectors, hasVector: hasVector, dimension: dimension, into: scores)
    }

    /// The top `rank` right singular vectors of `matrix` (a `columnCount × rank` row-major basis), scaled so that
    /// `row · basis` gives the row's coordinates `U Σ` of the truncated SVD.
    static func truncatedSVDBasis(_ matrix: SparseRows, rank requested: Int, powerIterations: Int, seed: UInt64)
        -> (values: [Float], rank: Int)
    {
        let n = matrix.rowCount, m = matrix.columnCount
        let rank = max(1, min(requested, m, n))
        let l = min(rank + 16, m, n)
        guard m > 0, n > 0 else { return ([Float](repeating: 0, count: max(m, 1) * rank), rank) }
        // Y = X Ω, then power iterations Q ← orth(X orth(Xᵀ Q)).
        let omega = FactorMatrix(rows: m, columns: l, scale: 2, seed: seed, centered: true)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: n * l)
        let z = UnsafeMutablePointer<Float>.allocate(capacity: m * l)
        defer { y.deallocate(); z.deallocate() }
        matrix.multiply(omega.storage, width: l, into: y)
        DenseMath.orthonormalizeColumns(y, rows: n, columns: l)
        for _ in 0..<powerIterations {
            matrix.multiplyTransposed(y, width: l, into: z)
            DenseMath.orthonormalizeColumns(z, rows: m, columns: l)
            matrix.multiply(z, width: l, into: y)
            DenseMath.orthonormalizeColumns(y, rows: n, columns: l)
        }
        // Bᵀ = Xᵀ Q (m × l); B Bᵀ = Zᵀ Z = W Λ Wᵀ; right singular vectors V = Bᵀ W Λ^(-1/2).
        matrix.multiplyTransposed(y, width: l, into: z)
        var gram = [Double](repeating: 0, count: l * l)
        for t in 0..<m {
            let row = z + t * l
            for a in 0..<l {
                let va = Double(row[a])
                guard va != 0 else { continue }
                for b in a..<l { gram[a * l + b] += va * Double(row[b]) }
            }
        }
        for a in 0..<l { for b in 0..<a { gram[a * l + b] = gram[b * l + a] } }
        let (eigenvalues, eigenvectors) = DenseMath.symmetricEigen(gram, n: l)
        // Coordinates U Σ = X V; V's column j = Z w_j / σ_j, so X V = X Z w_j / σ_j. Store V.
        var basis = [Float](repeating: 0, count: m * rank)
        for j in 0..<rank {
            let sigma = eigenvalues[j] > 1e-12 ? eigenvalues[j].squareRoot() : 0
            guard sigma > 0 else { continue }
            for t in 0..<m {
                var sum = 0.0
                let row = z + t * l
                for a in 0..<l { sum += Double(row[a]) * eigenvectors[a * l + j] }
                basis[t * rank + j] = Float(sum / sigma)
            }
        }
        return (basis, rank)
    }
}

/// A sparse matrix in compressed rows (TF-IDF rows of items).
struct SparseRows {
    let rowStart: [Int]
    let columns: [Int32]
    let values: [Float]
    let columnCount: Int
    var rowCount: Int { rowStart.count - 1 }

    /// `out = self · dense`, with `dense` row-major `columnCount × width`.
    func multiply(_ dense: UnsafePointer<Float>, width: Int, into out: UnsafeMutablePointer<Float>) {
        out.initialize(repeating: 0, count: rowCount * width)
        for r in 0..<rowCount {
            let target = out + r * width
            for k in rowStart[r]..<rowStart[r + 1] {
                let source = dense + Int(columns[k]) * width, v = values[k]
                for c in 0..<width { target[c] += v * source[c] }
            }
        }
    }

    /// `out = selfᵀ · dense`, with `dense` row-major `rowCount × width`.
    func multiplyTransposed(_ dense: UnsafePointer<Float>, width: Int, into out: UnsafeMutablePointer<Float>) {
        out.initialize(repeating: 0, count: columnCount * width)
        for r in 0..<rowCount {
            let source = dense + r * width
            for k in rowStart[r]..<rowStart[r + 1] {
                let target = out + Int(columns[k]) * width, v = values[k]
                for c in 0..<width { target[c] += v * source[c] }
            }
        }
    }
}

/// What turns an item's text into its content vector: the analyzer, the vocabulary with idf weights and the SVD
/// basis. Stored with each content-model generation.
public struct ContentProjection: Sendable {
    let analyzer: TextAnalyzer
    let terms: [String: Int32]
    let idf: [Float]
    /// Row-major `terms × dimension`.
    let basis: [Float]
    /// Length of the vectors it produces (the SVD rank actually reached).
    public let dimension: Int

    /// The unit-length vector of an item, or nil when none of its terms is in the vocabulary.
    public func vector(for item: Item) -> [Float]? {
        project(Self.tfidf(analyzer.terms(of: item), terms: terms, idf: idf))
    }

    /// The unit-length vector of free text (a search phrase, a shopper's self-description).
    public func vector(forText text: String) -> [Float]? {
        var counts: [String: Float] = [:]
        for word in analyzer.words(text) { counts[word, default: 0] += 1 }
        return project(Self.tfidf(counts, terms: terms, idf: idf))
    }

    func project(_ row: [(Int32, Float)]) -> [Float]? {
        guard !row.isEmpty else { return nil }
        var vector = [Float](repeating: 0, count: dimension)
        basis.withUnsafeBufferPointer { basis in
            for (term, value) in row {
                let source = basis.baseAddress! + Int(term) * dimension
                for d in 0..<dimension { vector[d] += value * source[d] }
            }
        }
        let ok = vector.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, dimension) }
        return ok ? vector : nil
    }

    /// Sublinear TF × idf over the known terms, unit length, sorted by term index.
    static func tfidf(_ counts: [String: Float], terms: [String: Int32], idf: [Float]) -> [(Int32, Float)] {
        var row: [(Int32, Float)] = []
        var norm: Float = 0
        for (term, count) in counts {
            guard let index = terms[term], count > 0 else { continue }
            let value = (1 + log(count)) * idf[Int(index)]
            row.append((index, value))
            norm += value * value
        }
        guard norm > 0 else { return [] }
        let scale = 1 / norm.squareRoot()
        return row.map { ($0.0, $0.1 * scale) }.sorted { $0.0 < $1.0 }
    }

    /// Vocabulary and idf as stored: stemming flag, dimension, count, then (term, idf) pairs in index order.
    var vocabularyBytes: [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt8(analyzer.stemming ? 1 : 0))
        writer.write(UInt32(dimension))
        writer.write(UInt32(idf.count))
        let ordered = terms.sorted { $0.value < $1.value }
        for (term, index) in ordered {
            writer.write(term)
            writer.write(idf[Int(index)])
        }
        return writer.bytes
    }

    init(analyzer: TextAnalyzer, terms: [String: Int32], idf: [Float], basis: [Float], dimension: Int) {
        self.analyzer = analyzer
        self.terms = terms
        self.idf = idf
        self.basis = basis
        self.dimension = dimension
    }

    /// Decodes a stored vocabulary (see ``vocabularyBytes``) with its basis: the dimension must be `expected` (the
    /// space's, when known) and at most ``EmbeddingSpace/maxDimension``, the term count must fit the bytes, and the
    /// basis must hold `terms × dimension` floats; else `corrupted` prefixed with `what`.
    init(
        vocabulary raw: UnsafeRawBufferPointer, basis: [Float], dimension expected: Int? = nil,
        _ what: @autoclosure () -> String = "content model"
    ) throws {
        var reader = BinaryReader(raw)
        analyzer = TextAnalyzer(stemming: try reader.readUInt8() == 1)
        let dimension = Int(try reader.readUInt32())
        guard (1...EmbeddingSpace.maxDimension).contains(dimension), expected == nil || expected == dimension else {
            throw RecDBError(
                .corrupted, "\(what()): vocabulary says \(dimension) dimensions; the space has \(expected ?? 0)")
        }
        self.dimension = dimension
        // Each term takes at least its length (4 bytes) and its idf (4 bytes).
        let count = try reader.readCount(elementSize: 8, "\(what()): vocabulary")
        var terms: [String: Int32] = [:], idf: [Float] = []
        terms.reserveCapacity(count)
        idf.reserveCapacity(count)
        for index in 0..<count {
            terms[try reader.readString()] = Int32(index)
            idf.append(try reader.readFloat())
        }
        guard basis.count == count * dimension else {
            throw RecDBError(
                .corrupted, "\(what()): basis has \(basis.count) values, expected \(count) × \(dimension)")
        }
        self.terms = terms
        self.idf = idf
        self.basis = basis
    }
}
