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
            let userLimit = try CatalogSchemaAccess.idLimit("next.user", handle: r.handle, meta: r.schema.meta)
            let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: r.handle, meta: r.schema.meta)
            var userRows = [Float](repeating: 0, count: userLimit * rank)
            var itemRows = [Float](repeating: 0, count: itemLimit * rank)
            for node in 0..<max(userLimit, itemLimit) {
                if node < userLimit, let vector = try r.storedVector(of: UInt32(node), .users, in: space) {
                    userRows.replaceSubrange(node * rank..<(node + 1) * rank, with: vector)
                }
                if node < itemLimit, let vector = try r.storedVector(of: UInt32(node), .items, in: space) {
                    itemRows.replaceSubrange(node * rank..<(node + 1) * rank, with: vector)
                }
            }
            var parameters = StoredALS(parameterTable: record.parameters).parameters
            parameters.factors = rank
            return ALSModel(
                name: "\(name)@\(record.generation) (stored)", parameters: parameters,
                userFactors: userRows, itemFactors: itemRows,
                trainingSeconds: record.trainingSeconds)
        }
    }
}
