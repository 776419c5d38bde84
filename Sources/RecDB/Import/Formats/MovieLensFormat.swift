import Foundation

/// MovieLens ratings with movies and users: the RecBole atomic files (`*.inter`, `*.item`, `*.user`, tab-separated
/// with a typed header, optionally gzipped) or the classic GroupLens files (`u.data`, `u.item`, `u.user`, Latin-1).
/// Ratings become `rating` events whose value is the rating; genres become item tags.
public struct MovieLensFormat: ImportFormat {
    /// `movielens`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "movielens"
    /// The folder holding the files (the parent folder when a file was given).
    public let folder: String

    /// Takes the dataset's folder or any file in it; throws `notFound` when `path` does not exist.
    public init(path: String) throws {
        try DatasetFiles.requireExists(path)
        folder = DatasetFiles.isDirectory(path) ? path : (path as NSString).deletingLastPathComponent
    }

    static let classicGenres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
        "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ]

    /// Reads the item and user files when present, then the ratings; a folder with neither `*.inter` nor `u.data`
    /// throws `notFound`.
    public func read(into sink: ImportSink) throws {
        if let inter = DatasetFiles.find(in: folder, suffixes: [".inter"]) {
            if let items = DatasetFiles.find(in: folder, suffixes: [".item"]) { try readAtomicItems(items, sink) }
            if let users = DatasetFiles.find(in: folder, suffixes: [".user"]) { try readAtomicUsers(users, sink) }
            try readAtomicRatings(inter, sink)
        } else if let data = DatasetFiles.find(in: folder, names: ["u.data", "ratings.dat"]) {
            if let items = DatasetFiles.find(in: folder, names: ["u.item"]) { try readClassicItems(items, sink) }
            if let users = DatasetFiles.find(in: folder, names: ["u.user"]) { try readClassicUsers(users, sink) }
            try readClassicRatings(data, sink)
        } else {
            throw RecDBError(
                .notFound, "no MovieLens files here (expected *.inter[.gz] from RecBole, or u.data)", location: folder)
        }
    }

    /// Reads a RecBole header: `name:type` fields; returns the names.
    private func atomicHeader(_ reader: CSVReader) throws -> Header {
        guard let header = try reader.nextRow() else { throw RecDBError(.truncatedInput, "the file is empty", location: reader.path) }
        return Header(header.map { String($0.split(separator: ":").first ?? "") })
    }

    private func readAtomicRatings(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "\t")
        let header = try atomicHeader(reader)
        let user = try header.require("user_id", in: path), item = try header.require("item_id", in: path)
        let rating = header.index["rating"], time = header.index["timestamp"]
        let width = max(user, item, rating ?? 0, time ?? 0) + 1
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, width)
                let value = try rating.map { try FieldParsing.number(fields[$0], column: "rating") } ?? 1
                let timestamp = try time.map { try FieldParsing.timestamp(fields[$0], column: "timestamp", unit: .seconds) }
                return [
                    .event(
                        EventInput(
                            user: fields[user], item: fields[item], type: rating == nil ? "view" : "rating", value: value,
                            timestamp: timestamp ?? Timestamp(milliseconds: 0)))
                ]
            }
        }
    }

    private func readAtomicItems(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "\t")
        let header = try atomicHeader(reader)
        let id = try header.require("item_id", in: path)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, header.names.count)
                var attributes: Attributes = [:]
                for (position, name) in header.names.enumerated() where position != id {
                    let text = fields[position]
                    if text.isEmpty { continue }
                    switch name {
                    case "movie_title", "title": attributes["title"] = .string(text)
                    case "release_year", "year":
                        if let year = Double(text) { attributes["year"] = .number(year) }
                    case "class", "genre", "genres":
                        attributes["tags"] = .strings(FieldParsing.list(text, separator: " "))
                    default: attributes[name] = .string(text)
                    }
                }
                return [.item(id: fields[id], attributes: attributes)]
            }
        }
    }

    private func readAtomicUsers(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "\t")
        let header = try atomicHeader(reader)
        let id = try header.require("user_id", in: path)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, header.names.count)
                var attributes: Attributes = [:]
                for (position, name) in header.names.enumerated() where position != id && !fields[position].isEmpty {
                    if name == "age", let age = Double(fields[position]) {
                        attributes[name] = .number(age)
                    } else {
                        attributes[name] = .string(fields[position])
                    }
                }
                return [.user(id: fields[id], attributes: attributes)]
            }
        }
    }

    private func readClassicRatings(_ path: String, _ sink: ImportSink) throws {
        let isDat = path.contains("ratings.dat")
        let reader = try sink.openCSV(path, delimiter: isDat ? ":" : "\t")
        try sink.forEachRow(of: reader) { raw in
            // ratings.dat separates with "::"; splitting on ':' leaves empty fields between.
            let fields = isDat ? raw.filter { !$0.isEmpty } : raw
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, 4)
                return [
                    .event(
                        EventInput(
                            user: fields[0], item: fields[1], type: "rating",
                            value: try FieldParsing.number(fields[2], column: "rating"),
                            timestamp: try FieldParsing.timestamp(fields[3], column: "timestamp", unit: .seconds)))
                ]
            }
        }
    }

    private func readClassicItems(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "|", encoding: .latin1)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, 5)
                var attributes: Attributes = ["title": .string(fields[1])]
                if let year = fields[2].split(separator: "-").last.flatMap({ Double($0) }) { attributes["year"] = .number(year) }
                if !fields[4].isEmpty { attributes["url"] = .string(fields[4]) }
                let flags = fields.dropFirst(5)
                let genres = zip(Self.classicGenres, flags).filter { $0.1 == "1" }.map(\.0)
                if !genres.isEmpty { attributes["tags"] = .strings(genres) }
                return [.item(id: fields[0], attributes: attributes)]
            }
        }
    }

    private func readClassicUsers(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "|", encoding: .latin1)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, 5)
                return [
                    .user(
                        id: fields[0],
                        attributes: [
                            "age": .number(try FieldParsing.number(fields[1], column: "age")),
                            "gender": .string(fields[2]), "occupation": .string(fields[3]), "zip_code": .string(fields[4]),
                        ])
                ]
            }
        }
    }
}
