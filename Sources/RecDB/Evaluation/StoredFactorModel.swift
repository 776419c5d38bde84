import Foundation

extension RecDatabase {
    /// The active generation of the stored ALS model `name` as an in-memory ``ALSModel``, exactly as it serves (its
    /// user and item vectors, ids without one as zero rows), for evaluation without training: how `recctl eval
    /// --stored` scores factors imported from Spark. Its ``ALSModel/name`` is `NAME@GENERATION (stored)`.
    public func storedFactorModel(_ name: String) throws -> ALSModel {
        try read { r in
            guard let record = try r.model(name) else { throw RecDBError(.notFound, "no stored model '\(name)'") }
            guard record.kind == .als, let spaceName = record.space, let space = try r.space(spaceName) else {
                throw RecDBError(
                    .invalidArgument, "'\(name)' is a \(record.kind) model; only stored ALS factors can be scored as stored")
            }
            let rank = space.dimension
            func rows(_ kind: VectorKind, limit: Int) throws -> [Float] {
                var rows = [Float](repeating: 0, count: limit * rank)
                for node in 0..<limit {
                    if let vector = try r.storedVector(of: UInt32(node), kind, in: space) {
                        rows.replaceSubrange(node * rank..<(node + 1) * rank, with: vector)
                    }
                }
                return rows
            }
            var parameters = StoredALS(parameterTable: record.parameters).parameters
            parameters.factors = rank
            let userLimit = try CatalogSchemaAccess.idLimit("next.user", handle: r.handle, meta: r.schema.meta)
            let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: r.handle, meta: r.schema.meta)
            return ALSModel(
                name: "\(name)@\(record.generation) (stored)", parameters: parameters,
                userFactors: try rows(.users, limit: userLimit), itemFactors: try rows(.items, limit: itemLimit),
                trainingSeconds: record.trainingSeconds)
        }
    }
}
