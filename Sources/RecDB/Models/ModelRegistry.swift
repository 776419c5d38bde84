import Synchronization

/// The model kinds this process knows, by ``ModelKind``: the one place the planner, ``ModelSpec``, refresh,
/// evaluation and item writes look a kind up.
package enum ModelRegistry {
    /// The kinds RecDB ships, in the order `ModelSpec.named` lists them and the default chain breaks ties.
    /// A new kind is one line here; a kind of another module is ``register(_:)``ed by it (RecText's `text`).
    static var builtIn: [any StoredModel.Type] {
        [
            StoredPopularity.self, StoredItemKNN.self, StoredALS.self, StoredBPR.self, StoredContent.self,
            StoredSessionKNN.self, StoredTransition.self, StoredSASRec.self, StoredEASE.self,
            StoredNCF.self, StoredIRGAN.self, StoredHyGenRec.self, StoredTrending.self,
        ]
    }

    private static let addedKinds = Mutex<[any StoredModel.Type]>([])

    /// Every known kind: the built-in ones, then those ``register(_:)`` added.
    static var kinds: [any StoredModel.Type] { builtIn + addedKinds.withLock { $0 } }

    /// Adds a kind at run time: a kind defined outside this module (RecText's `text`, a test's). A kind already
    /// known, or one whose name another kind has, is left as it is.
    package static func register(_ model: any StoredModel.Type) {
        addedKinds.withLock { kinds in
            guard !(builtIn + kinds).contains(where: { $0.kind == model.kind }) else { return }
            kinds.append(model)
        }
    }

    /// The implementation of `kind`, or nil for a kind this process does not know.
    static func implementation(of kind: ModelKind) -> (any StoredModel.Type)? {
        kinds.first { $0.kind == kind }
    }

    /// The kind a name or alias (`pop`, `knn`, `tfidf`) stands for, case-insensitively.
    static func implementation(named name: String) -> (any StoredModel.Type)? {
        let lowered = name.lowercased()
        return kinds.first { $0.kind.rawValue == lowered || $0.aliases.contains(lowered) }
    }
}
