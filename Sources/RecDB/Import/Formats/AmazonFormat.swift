import Foundation

/// Amazon product data in the LC-Rec layout: `NAME.item.json[.gz]` (`{item: {title, description, brand,
/// categories}}`) and `NAME.inter.json` (`{user: [item, …]}` in time order). Interactions become `purchase` events.
/// The files carry no times, so each user's events are stamped one second apart from 2018-01-01T00:00:00Z in their
/// order: histories keep their order, but times across users mean nothing (use leave-last-out splits, not temporal).
/// `categories` ("Office Products, Paper, Notebooks") becomes the category path `Office Products/Paper/Notebooks`.
public struct AmazonFormat: ImportFormat {
    /// `amazon`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "amazon"
    /// The `*.item.json` file, or nil when only interactions are imported.
    public let itemsPath: String?
    /// The `*.inter.json` file, or nil when only items are imported.
    public let interactionsPath: String?

    static let baseTime = Timestamp(parsing: "2018-01-01T00:00:00Z")!

    /// Takes a folder holding the files, or one of the two files. Throws `notFound` when neither is there.
    public init(path: String) throws {
        try DatasetFiles.requireExists(path)
        let folder = DatasetFiles.isDirectory(path) ? path : (path as NSString).deletingLastPathComponent
        if DatasetFiles.isDirectory(path) {
            itemsPath = DatasetFiles.find(in: folder, suffixes: [".item.json"])
            interactionsPath = DatasetFiles.find(in: folder, suffixes: [".inter.json"])
        } else {
            itemsPath = path.contains(".item.json") ? path : nil
            interactionsPath = path.contains(".inter.json") ? path : nil
        }
        guard itemsPath != nil || interactionsPath != nil else {
            throw RecDBError(.notFound, "no *.item.json or *.inter.json here", location: path)
        }
    }

    /// Reads a whole JSON document (gzip or plain), checking UTF-8 line by line.
    static func loadJSON(_ path: String, _ sink: ImportSink) throws -> Any {
        let reader = try sink.openLines(path)
        var text = ""
        while let line = try reader.nextLine() {
            text += line
            text += "\n"
        }
        do {
            return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [])
        } catch {
            let nsError = error as NSError
            let detail = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
            throw RecDBError(.malformedInput, "not valid JSON (truncated file?): \(detail)", location: path)
        }
    }

    static func sortedKeys(_ object: [String: Any]) -> [String] {
        object.keys.sorted { (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1) }
    }

    /// Reads the items file, then the interactions file, each as one whole JSON document; users in numeric id order.
    public func read(into sink: ImportSink) throws {
        if let itemsPath {
            guard let object = try Self.loadJSON(itemsPath, sink) as? [String: Any] else {
                throw RecDBError(.malformedInput, "expected a JSON object of items", location: itemsPath)
            }
            let name = (itemsPath as NSString).lastPathComponent
            for id in Self.sortedKeys(object) {
                try sink.parseRow(at: "\(name): item \(id)") {
                    guard let fields = object[id] as? [String: Any] else {
                        throw FieldParsing.Invalid(message: "item \(id) is not a JSON object")
                    }
                    var attributes: Attributes = [:]
                    for (key, attribute) in [("title", "title"), ("description", "description"), ("brand", "brand")] {
                        if let text = fields[key] as? String, !text.isEmpty { attributes[attribute] = .string(text) }
                    }
                    if let categories = fields["categories"] as? String {
                        let path = categories.split(separator: ",").map { $0.trimmedSpaces }
                            .filter { !$0.isEmpty }.map { $0.replacingOccurrences(of: "/", with: "-") }
                        if !path.isEmpty { attributes["category"] = .string(path.joined(separator: "/")) }
                    }
                    return [.item(id: id, attributes: attributes)]
                }
            }
        }
        if let interactionsPath {
            guard let object = try Self.loadJSON(interactionsPath, sink) as? [String: Any] else {
                throw RecDBError(.malformedInput, "expected a JSON object of user sequences", location: interactionsPath)
            }
            let name = (interactionsPath as NSString).lastPathComponent
            for user in Self.sortedKeys(object) {
                guard let sequence = object[user] as? [Any] else {
                    try sink.reject(at: "\(name): user \(user)", "the sequence is not a JSON array")
                    continue
                }
                for (position, element) in sequence.enumerated() {
                    try sink.parseRow(at: "\(name): user \(user), position \(position)") {
                        let item: String
                        if let number = element as? Int {
                            item = String(number)
                        } else if let text = element as? String {
                            item = text
                        } else {
                            throw FieldParsing.Invalid(message: "item is neither a number nor a string")
                        }
                        return [
                            .event(
                                EventInput(
                                    user: user, item: item, type: "purchase",
                                    timestamp: Timestamp(milliseconds: Self.baseTime.milliseconds + Int64(position) * 1000)))
                        ]
                    }
                }
            }
        }
    }
}
