import Foundation
import RecDBTestSupport
import RecTestSupport
import Testing

@testable import RecDB
@testable import RecText

/// Offline evaluation ranks what `RECOMMEND` serves for the kinds built on MiniLM's item vectors (`llmprofile`,
/// `textadapter`, `pseudoreview`), on ``ServingParity``'s shop: each held-out user's offline top 10 equals the list the database
/// holding only the training events serves, with the model refreshed there. Needs `recctl models install minilm`.
@Suite("Text kinds: offline evaluation equals serving", .serialized)
struct TextKindsServingParityTests {
    init() { RecText.install() }

    /// Profiles for every user of the fixture (7 training items each), written without the language model: what is
    /// compared is how the profile vectors are scored and served, which the writer does not change.
    static var everyUserProfiled: StoredLLMProfiles {
        var profiles = StoredLLMProfiles()
        profiles.maxItems = 10
        profiles.guided = 0
        return profiles
    }

    /// A short adapter training on the fixture's consecutive items.
    static var smallAdapter: StoredTextAdapter {
        var adapter = StoredTextAdapter()
        adapter.settings.epochs = 2
        adapter.settings.batchSize = 32
        adapter.settings.learningRate = 1e-2
        return adapter
    }

    /// Sentences for the fixture's items with at most 3 training events (short ones, to keep the test quick).
    static var fewReviews: StoredPseudoReviews {
        var reviews = StoredPseudoReviews()
        reviews.maxEvents = 3
        reviews.maxTokens = 12
        return reviews
    }

    @Test(arguments: ["llmprofile", "textadapter", "pseudoreview"])
    func offlineTopTenIsTheServedList(kind: String) throws {
        try TemporaryDirectory.with { folder in
            let parity = try ServingParity(in: folder)
            let spec =
                switch kind {
                case "llmprofile": ModelSpec(Self.everyUserProfiled)
                case "textadapter": ModelSpec(Self.smallAdapter)
                default: ModelSpec(Self.fewReviews)
                }
            try parity.served.refresh(spec, threads: 1)
            let model = spec.train(
                on: parity.split.train, threads: 1, items: parity.catalog, sessionGap: parity.full.sessionGap)
            try parity.expectOfflineEqualsServed(
                model, statement: "RECOMMEND 10 ITEMS FOR USER $u USING \(kind) STRICT", name: kind
            ) { items in
                // Every user has a profile and a history: full pages (equal empty lists would prove nothing).
                #expect(items.count == 10, "\(kind)")
            }
        }
    }
}
