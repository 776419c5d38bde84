import Foundation

// What a model kind serves from and gives back (``StoredModel/candidates(_:_:pool:in:)``); the planner in
// Recommend/ resolves requests into these and ranks the candidates.

/// A scored candidate before ranking: which model found it and which source items drove it.
struct Candidate {
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
struct ResolvedRequest {
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

    func accepts(_ node: UInt32) -> Bool {
        if returnsUsers { return true }
        return !excluded.contains(node) && (allowed?.contains(node) ?? true)
    }
}
