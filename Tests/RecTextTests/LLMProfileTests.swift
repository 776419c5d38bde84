import Foundation
import RecTestSupport
import Testing

@testable import RecDB
@testable import RecText

/// LLM cold-start profiles: users with a few events get a profile SmolLM2 wrote, stored with its provenance apart
/// from their events, shown by `SHOW USER` as generated, and served (as its cosine with MiniLM item vectors) the way
/// offline evaluation scores it.
@Suite("LLM cold-start profiles", .serialized)
struct LLMProfileTests {
    init() { RecText.install() }

    static let titles = [
        "Gel ink pens, black, 12 pack", "Ballpoint pens, blue", "Fountain pen with converter", "Ruled notebook A5",
        "Spiral sketchbook", "Desk stapler", "Box of staples", "Paper clips, jumbo", "Printer paper, 500 sheets",
        "Sticky notes, yellow", "Highlighter markers, 6 colours", "Mechanical pencils 0.5 mm",
    ]

    @Test func coldUsersGetAGeneratedProfileThatIsStoredApartAndServed() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try RecDatabase.open(at: folder.appending("db"), create: true, options: options)
            try db.write { w in
                for (index, title) in Self.titles.enumerated() {
                    _ = try w.upsertItem(
                        "i\(index)", attributes: ["title": .string(title), "category": .string("Office/Supplies")])
                }
                // Two cold users (2 items each) and a warm one (6 items).
                for (user, items) in [("cold1", [0, 1]), ("cold2", [5, 6]), ("warm", [0, 3, 4, 8, 9, 10])] {
                    for (minute, item) in items.enumerated() {
                        _ = try w.addEvent(
                            EventInput(
                                user: user, item: "i\(item)", type: "view",
                                timestamp: Timestamp(milliseconds: 1_700_000_000_000 + Int64(minute) * 60_000)))
                    }
                }
            }
            var spec = StoredLLMProfiles()
            spec.maxTokens = 16
            try db.refresh(.text)
            let report = try db.refresh(ModelSpec(spec))
            #expect(report.record.kind == .llmProfile)

            let cold = try db.query("SHOW USER 'cold1' HISTORY")
            let profile = try #require(cold["generated_profile"])
            #expect(profile["generated"] == .bool(true))
            #expect(profile["generator"]?.stringValue == ColdStartProfiles.generator)
            #expect(profile["source_items"]?.arrayValue?.compactMap(\.stringValue) == ["i0", "i1"])
            // The model chose among the items' facts: every phrase of the profile is one of them.
            let text = profile["text"]?.stringValue ?? ""
            let facts = try db.read { r in try ["i0", "i1"].map { try #require(try r.item($0)) } }
            let phrases = ProfileFacts(items: facts).phrases
            #expect(!text.isEmpty)
            #expect(text.components(separatedBy: ", ").allSatisfy(phrases.contains), "\(text) from \(phrases)")
            #expect(profile["prompt_version"] == .number(2))
            // The profile is not an event: the history holds the two real events only.
            #expect(cold["history"]?.arrayValue?.count == 2)
            #expect(try db.query("SHOW USER 'warm'")["generated_profile"] == nil)

            // Served as offline evaluation scores it: the profile's cosine with each item the user has not met.
            let (log, catalog, textVectors) = try db.read { r -> (InteractionLog, [Item], StoredTextVectors?) in
                var items: [Item] = []
                try r.forEachItem { items.append($0); return .next }
                return (try r.interactionLog(), items, try r.storedTextVectors(of: items))
            }
            let model = ModelSpec(spec).train(on: log, items: catalog, textVectors: textVectors)
            for user in ["cold1", "cold2"] {
                let internalID = try #require(try db.read { r in try r.userID(for: user) })
                let offline = Self.ranking(model, user: internalID, log: log, items: catalog.count)
                let answer = try db.query("RECOMMEND 5 ITEMS FOR USER '\(user)' USING llmprofile STRICT")
                let online = try #require(answer["items"]?.arrayValue).compactMap { $0["id"]?.stringValue }
                #expect(online == offline.prefix(5).map { "i\($0)" }, "\(user)")
                #expect(online.count == 5)
            }
            // A user without a profile gets nothing from the model alone.
            let warm = try db.query("RECOMMEND 5 ITEMS FOR USER 'warm' USING llmprofile STRICT")
            #expect(warm["items"]?.arrayValue?.isEmpty == true)
        }
    }

    /// The model's ranking of every item the user has not met, best first (ties by lower id).
    static func ranking(_ model: any Recommender, user: UInt32, log: InteractionLog, items: Int) -> [UInt32] {
        let met = Set((0..<log.count).filter { log.users[$0] == user }.map { log.items[$0] })
        let scores = UnsafeMutableBufferPointer<Float>.allocate(capacity: items)
        defer { scores.deallocate() }
        scores.update(repeating: 0)
        model.score(user: user, history: UserHistory(), into: scores)
        return (0..<UInt32(items)).filter { !met.contains($0) && scores[Int($0)].isFinite }
            .sorted { scores[Int($0)] > scores[Int($1)] || (scores[Int($0)] == scores[Int($1)] && $0 < $1) }
    }
}
