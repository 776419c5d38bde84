import Testing

@testable import RecDB

@Suite("Category and tag postings")
struct PostingTests {
    @Test func itemIsPostedUnderEveryCategoryPrefixAndTag() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let (thriller, other) = try db.write { w in
                (
                    try w.upsertItem(
                        "i1",
                        attributes: ["category": .string("Books/Thriller"), "tags": .strings(["dark", "nordic"])]
                    ),
                    try w.upsertItem("i2", attributes: ["category": .string("Books/Poetry")])
                )
            }
            try db.read { r throws in
                #expect(try r.items(inCategory: "Books") == [thriller, other])
                #expect(try r.items(inCategory: "Books/Thriller") == [thriller])
                #expect(try r.items(inCategory: " Books / Thriller ") == [thriller])
                #expect(try r.items(inCategory: "Thriller") == [])
                #expect(try r.items(withTag: "dark") == [thriller])
                #expect(try r.items(withTag: "nordic") == [thriller])
                #expect(try r.items(withTag: "Dark") == [])
                #expect(
                    try r.categories().map { "\($0.path)=\($0.itemCount)" }
                        == ["Books=2", "Books/Poetry=1", "Books/Thriller=1"]
                )
            }
        }
    }

    @Test func changingCategoryMovesPostings() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let id = try db.write { w in
                try w.upsertItem(
                    "i1",
                    attributes: ["category": .string("Books/Thriller"), "tags": .strings(["dark", "nordic"])]
                )
            }
            try db.write { w in _ = try w.upsertItem("i1", attributes: ["category": .string("Music/Jazz")]) }
            try db.read { r throws in
                #expect(try r.items(inCategory: "Books") == [])
                #expect(try r.items(inCategory: "Books/Thriller") == [])
                #expect(try r.items(inCategory: "Music") == [id])
                #expect(try r.items(inCategory: "Music/Jazz") == [id])
                #expect(try r.items(withTag: "dark") == [id], "a merge that does not mention tags keeps them")
            }
            try db.write { w in _ = try w.upsertItem("i1", attributes: ["tags": .strings(["dark", "calm"])]) }
            try db.read { r throws in
                #expect(try r.items(withTag: "nordic") == [])
                #expect(try r.items(withTag: "dark") == [id])
                #expect(try r.items(withTag: "calm") == [id])
            }
            try db.write { w in
                _ = try w.upsertItem("i1", attributes: ["title": .string("Kind of Blue")], replace: true)
            }
            try db.read { r throws in
                #expect(try r.categories().isEmpty)
                #expect(try r.items(withTag: "dark") == [])
                #expect(try r.items(withTag: "calm") == [])
            }
        }
    }
}
