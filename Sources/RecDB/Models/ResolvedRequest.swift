import Foundation

// What a model kind serves from and gives back (``StoredModel/candidates(_:_:pool:in:)``); the planner in
// Recommend/ resolves requests into these and ranks the candidates.

/// A scored candidate before ranking: which model found it and which source items drove it.
package struct Candidate {
    var item: UInt32
    var score: Float
    var model: String
    var reason: Provenance.Reason
    /// Internal ids of the items that drove it, most influential first (may be filled in later).
    var sources: [UInt32] = []
    var neighbours = 0
    /// The fallback model that filled a page the requested models left short (nil for their own candidates).
    var filledBy: String?
}

/// A request resolved against the snapshot: internal ids, the exclusions and the allowed set.
package struct ResolvedRequest {
    var request: RecommendRequest
    var userID: UInt32?
    /// The user's recent history, newest first.
    var history: [HistoryEntry] = []
    /// The items that stand for the target: the visit or basket in time order, or the one item.
    var sourceItems: [UInt32] = []
    var sourceReason: Provenance.Reason = .history
    var excluded = Set<UInt32>()
    var allowed: AllowedSet?
    var itemLimit = 0
    /// Whether results are users (users for an item).
    var returnsUsers = false
    /// A user's own description of their interests (the `about` attribute), for users without history.
    var about: String?
    /// Model outputs computed before the transaction; nil runs the models where they are needed (inside it).
    var inputs: ModelInputs?

    /// The MiniLM vector of `text`: from ``inputs`` when given (``ModelInputs/Missing`` when absent), else encoded.
    package func textVector(_ text: String) throws -> [Float] {
        if let inputs { return try inputs.textVector(text) }
        return try SharedTextEncoder.encode(text)
    }

    /// The vector of the profile read from a self-description, as ``textVector(_:)`` finds it.
    func profileVector(about: String) throws -> [Float] {
        if let inputs { return try inputs.profileVector(about: about) }
        return try SharedTextEncoder.encode(ProfileReader.profileText(about: about))
    }

    func accepts(_ node: UInt32) -> Bool {
        if returnsUsers { return true }
        // An empty set is not hashed into: most requests exclude nothing, and this runs per candidate.
        return (excluded.isEmpty || !excluded.contains(node)) && (allowed?.contains(node) ?? true)
    }
}
