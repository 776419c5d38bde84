/// Scoring shared by the models that describe items by vectors alone (content, text), offline and in serving.
///
/// A user's profile is built by ``profile(of:recencyWeighted:dimension:vector:)`` from their
/// ``UserHistory/profileLimit`` most recent distinct items, weighted 1, 1/2, 1/3 … newest first: the one formula
/// `RECOMMEND` searches with and evaluation scores with. An item's score is its inner product with the profile
/// (the cosine up to the profile's length, so the ranking is the served one); items without a vector are no
/// candidates (−∞), as they are not in the served space.
package enum ItemVectorProfile {
    package static func vector(_ item: UInt32, _ itemVectors: [Float], _ dimension: Int) -> [Float]? {
        let offset = Int(item) * dimension
        guard offset + dimension <= itemVectors.count else { return nil }
        let vector = Array(itemVectors[offset..<offset + dimension])
        return vector.contains { $0 != 0 } ? vector : nil
    }

    /// Whether each row of row-major `itemVectors` holds a vector (a zero row is an item without one).
    package static func rowsWithVectors(_ itemVectors: [Float], dimension d: Int) -> [Bool] {
        let rows = itemVectors.count / max(d, 1)
        return (0..<rows).map { row in itemVectors[row * d..<(row + 1) * d].contains { $0 != 0 } }
    }

    /// The profile a content or text model searches with: the sum of the vectors of `sources` (items without one
    /// are skipped but keep their rank), each weighted 1 / (rank + 1) when `recencyWeighted` (the sources are a
    /// user's recent items, newest first), else 1 (a visit, a basket, an item); nil when no source has a vector.
    package static func profile(
        of sources: [UInt32], recencyWeighted: Bool, dimension: Int, vector vectorOf: (UInt32) throws -> [Float]?
    ) rethrows -> [Float]? {
        var profile = [Float](repeating: 0, count: dimension)
        var any = false
        for (rank, item) in sources.enumerated() {
            guard let vector = try vectorOf(item) else { continue }
            let weight = recencyWeighted ? 1 / Float(rank + 1) : 1
            for d in 0..<min(dimension, vector.count) { profile[d] += weight * vector[d] }
            any = true
        }
        return any ? profile : nil
    }

    /// Scores every item for a user as serving ranks them: the inner product with the user's recency profile;
    /// −∞ for items without a vector, and for every item when the user's recent items have none.
    package static func score(
        history: UserHistory, itemVectors: [Float], hasVector: [Bool], dimension d: Int,
        into scores: UnsafeMutableBufferPointer<Float>
    ) {
        let sources = history.recentItems(limit: UserHistory.profileLimit)
        let profile = Self.profile(of: sources, recencyWeighted: true, dimension: d) { item in
            Int(item) < hasVector.count && hasVector[Int(item)] ? vector(item, itemVectors, d) : nil
        }
        guard let profile else {
            scores.update(repeating: -.infinity)
            return
        }
        itemVectors.withUnsafeBufferPointer { vectors in
            profile.withUnsafeBufferPointer { p in
                for i in 0..<scores.count {
                    scores[i] = i < hasVector.count && hasVector[i]
                        ? VectorKernels.dot(vectors.baseAddress! + i * d, p.baseAddress!, d) : -.infinity
                }
            }
        }
    }
}
