import BenchNPY
import Foundation
import RecDB

/// A factor model trained elsewhere (implicit's ALS and BPR, PureSVD): score = user row · item row.
struct FactorRecommender: Recommender {
    let name: String
    let users: [Float]
    let items: [Float]
    let factors: Int
    /// Columns of an item row that make its vector for diversity (BPR's last column is the item bias).
    let vectorColumns: Int

    init(name: String, userFile: String, itemFile: String, userLimit: Int, itemLimit: Int, dropLast: Bool) throws {
        let u = try NPYArray(path: userFile), i = try NPYArray(path: itemFile)
        guard u.columns == i.columns, !u.floats.isEmpty, !i.floats.isEmpty else {
            throw BenchError("\(name): factor files \(u.shape) and \(i.shape) do not match (float32 expected)")
        }
        guard u.rows == userLimit, i.rows == itemLimit else {
            throw BenchError("\(name): \(u.rows) × \(i.rows) factor rows, the export has \(userLimit) × \(itemLimit)")
        }
        self.name = name
        users = u.floats
        items = i.floats
        factors = u.columns
        vectorColumns = dropLast ? factors - 1 : factors
    }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let f = factors, u = Int(user)
        guard (u + 1) * f <= users.count else { return }
        users.withUnsafeBufferPointer { userBuffer in
            items.withUnsafeBufferPointer { itemBuffer in
                let x = userBuffer.baseAddress! + u * f
                let count = min(scores.count, itemBuffer.count / f)
                for i in 0..<count {
                    let y = itemBuffer.baseAddress! + i * f
                    var s: Float = 0
                    for d in 0..<f { s += x[d] * y[d] }
                    scores[i] = s
                }
            }
        }
    }

    func itemVector(_ item: UInt32) -> [Float]? {
        let i = Int(item)
        guard (i + 1) * factors <= items.count else { return nil }
        return Array(items[i * factors..<i * factors + vectorColumns])
    }
}

/// An item-item model trained elsewhere (EASE): score = x_u · B with x_u the binary training row of the user.
struct ItemItemRecommender: Recommender {
    let name: String
    let weights: [Float]
    let items: Int

    init(name: String, file: String, itemLimit: Int) throws {
        let b = try NPYArray(path: file)
        guard b.rows == itemLimit, b.columns == itemLimit, !b.floats.isEmpty else {
            throw BenchError("\(name): item-item matrix \(b.shape), the export has \(itemLimit) items (float32)")
        }
        self.name = name
        weights = b.floats
        items = itemLimit
    }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let n = min(items, scores.count)
        weights.withUnsafeBufferPointer { b in
            for item in history.items where Int(item) < items {
                let row = b.baseAddress! + Int(item) * items
                for j in 0..<n { scores[j] += row[j] }
            }
        }
    }
}
