import RecDB
import RecTestSupport

/// The small shop the recommend and text tests share: three categories, users with one taste each, every shallow
/// model trained.
public enum ShopFixture {
    public static let categories = ["Books/Thriller", "Books/Cooking", "Garden"]
    public static let words = [
        ["dark", "murder", "detective", "thriller", "mystery", "crime"],
        ["italian", "recipes", "cooking", "kitchen", "baking", "pasta"],
        ["hose", "garden", "shovel", "plants", "lawn", "seeds"],
    ]

    /// Items `t0…t19` (thrillers), `c0…c19` (cooking), `g0…g19` (garden); users `u0…u29`, ten per taste, each
    /// viewing eight items of their category in an explicit session and buying one.
    public static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try RecDatabase.open(at: folder.appending("db"), create: true, options: options)
        try db.write { w in
            for (c, prefix) in ["t", "c", "g"].enumerated() {
                for i in 0..<20 {
                    let w1 = words[c][i % 6], w2 = words[c][(i + 2) % 6]
                    try w.upsertItem(
                        "\(prefix)\(i)",
                        attributes: [
                            "title": .string("\(w1.capitalized) \(w2) \(prefix.uppercased())\(i)"),
                            "description": .string("A \(w1) \(w2) \(words[c][(i + 4) % 6]) item"),
                            "category": .string(categories[c]), "price": .number(Double(5 + i)),
                            "available": .bool(i % 7 != 3), "tags": .strings(i % 2 == 0 ? ["even"] : ["odd"]),
                        ])
                }
            }
            var minute: Int64 = 0
            for user in 0..<30 {
                let prefix = ["t", "c", "g"][user / 10]
                for step in 0..<8 {
                    let item = (user * 3 + step * 2) % 20
                    try w.addEvent(event("u\(user)", "view", "\(prefix)\(item)", at: minute, session: "s\(user)"))
                    minute += 1
                }
                try w.addEvent(event("u\(user)", "purchase", "\(prefix)\((user * 7) % 20)", at: minute, session: "s\(user)"))
                minute += 100
            }
        }
        var als = ALSModel.Parameters()
        als.factors = 8
        als.iterations = 8
        var content = ContentModel.Parameters()
        content.dimensions = 12
        for spec in [ModelSpec.popularity(halfLifeDays: 30), .itemKNN(neighbours: 20), .als(als), .content(content),
                     .session(SessionKNNModel.Parameters())] {
            try db.refresh(spec)
        }
        return db
    }

    /// An event `minute` minutes after the fixture's start (the time RecDBTests' `Clock` counts from).
    static func event(_ user: String, _ type: String, _ item: String, at minute: Int64, session: String) -> EventInput {
        EventInput(
            user: user, item: item, type: type, timestamp: Timestamp(milliseconds: 1_700_000_000_000 + minute * 60_000),
            session: session)
    }

    /// Runs `body` with the shop in a temporary folder.
    public static func with(_ body: (RecDatabase) throws -> Void) throws {
        try TemporaryDirectory.with { folder in try body(try makeDatabase(folder)) }
    }
}
