import Foundation
import Synchronization

/// What a statement needs from the slow models — the language model (SmolLM2) and the text encoder (MiniLM) —
/// computed while no LMDB transaction is open, then handed to the transaction step.
///
/// A long read transaction pins the pages it sees (the file grows under writes) and holds a reader slot; a write
/// transaction held during an encoding blocks every writer. So the executor runs a statement in phases: models first
/// (``RecDatabase/prepareModelInputs(for:)``), then the transaction with these inputs. When the transaction step
/// finds it needs an input nobody could foresee (a cold user's self-description, a `MATCHING` phrase of a text
/// model), it stops with ``Missing``; the executor closes the transaction, runs the models and starts the step again.
public struct ModelInputs: Sendable {
    /// MiniLM vectors, by the text they encode.
    package var textVectors: [String: [Float]] = [:]
    /// Profile texts (a self-description and the interests the language model read in it), by the description.
    var profileTexts: [String: String] = [:]
    /// Shopper requests as the language model read them (`ASK`), by the shopper's words.
    var shopperRequests: [String: ShopperRequest] = [:]

    /// No inputs yet.
    public init() {}

    /// Inputs a transaction step needed but was not given: thrown out of the transaction, computed, step re-run.
    struct Missing: Error {
        var texts: Set<String> = []
        var profiles: Set<String> = []
    }

    /// The vector of `text`; throws ``Missing`` when it was not computed.
    func textVector(_ text: String) throws -> [Float] {
        guard let vector = textVectors[text] else { throw Missing(texts: [text]) }
        return vector
    }

    /// The vector of the profile read from a self-description; throws ``Missing`` when it was not computed.
    func profileVector(about: String) throws -> [Float] {
        guard let text = profileTexts[about], let vector = textVectors[text] else { throw Missing(profiles: [about]) }
        return vector
    }

    /// Runs the models for what `missing` names. Call it with no transaction open.
    mutating func compute(_ missing: Missing) throws {
        for about in missing.profiles where profileTexts[about] == nil {
            profileTexts[about] = ProfileReader.profileText(about: about)
        }
        let texts = missing.texts.union(missing.profiles.compactMap { profileTexts[$0] })
        for text in texts where textVectors[text] == nil {
            try RequestControl.checkCurrent()
            textVectors[text] = try SharedTextEncoder.encode(text)
        }
    }
}

extension RecDatabase {
    /// Runs `body` in a read transaction with `inputs`; when it stops for a missing input, closes the transaction,
    /// computes the input and runs `body` again in a new one (at most a few times: each round adds what was missing).
    func readWithModelInputs<R>(
        _ inputs: inout ModelInputs, _ body: (borrowing CatalogReader, ModelInputs) throws -> R
    ) throws -> R {
        let rounds = 4
        for _ in 0..<rounds {
            do {
                let given = inputs
                return try read { r in try body(r, given) }
            } catch let missing as ModelInputs.Missing {
                try inputs.compute(missing)
            }
        }
        throw RecDBError(.invalidArgument, "the statement kept asking for model inputs after \(rounds) rounds")
    }
}

/// A test's view of model inference: every run of the language model or the text encoder reports here first, on
/// the thread that runs it, so a test can check what is open at that moment (no transaction of its database).
package enum InferenceProbe {
    /// The model about to run.
    package enum Model: Sendable { case languageModel, textEncoder }

    private static let observers = Mutex<[UUID: @Sendable (Model) -> Void]>([:])

    /// Calls `observer` before every inference while `body` runs (from any thread: filter on the thread if needed).
    static func observing<R>(_ observer: @escaping @Sendable (Model) -> Void, _ body: () throws -> R) rethrows -> R {
        let key = UUID()
        observers.withLock { $0[key] = observer }
        defer { _ = observers.withLock { $0.removeValue(forKey: key) } }
        return try body()
    }

    /// Reports that `model` is about to run.
    package static func willRun(_ model: Model) {
        let current = observers.withLock { Array($0.values) }
        for observer in current { observer(model) }
    }
}
