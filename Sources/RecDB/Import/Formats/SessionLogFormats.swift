import Foundation

/// YOOCHOOSE (RecSys Challenge 2015). Accepts the raw `yoochoose-clicks.dat` (`session,ISO time,item,category`, no
/// header) and `yoochoose-buys.dat` (`session,ISO time,item,price,quantity`), or session-rec's prepared TSV with a
/// `SessionId ItemId Time` header (unix seconds). Each session is an anonymous visitor `s-SESSION` with an explicit
/// session id. Clicks are `click` events, buys `purchase` events (value = quantity, item price set). Category `S`
/// tags an item `special-offer`, categories 1–12 become `category`, larger numbers are brand ids (`brand`).
public struct YoochooseFormat: ImportFormat {
    /// `yoochoose`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "yoochoose"
    /// The files to read: the clicks and buys files found in a folder, or the one file given.
    public let files: [String]

    /// Takes a folder holding `yoochoose-clicks.dat` and/or `yoochoose-buys.dat`, or one file. Throws `notFound` when
    /// there is nothing to read.
    public init(path: String) throws {
        try DatasetFiles.requireExists(path)
        if DatasetFiles.isDirectory(path) {
            files = ["yoochoose-clicks.dat", "yoochoose-buys.dat"].compactMap { DatasetFiles.find(in: path, names: [$0]) }
            guard !files.isEmpty else { throw RecDBError(.notFound, "no yoochoose-clicks.dat or -buys.dat here", location: path) }
        } else {
            files = [path]
        }
    }

    /// Reads each file after looking at its first row to tell the raw layout from session-rec's TSV.
    public func read(into sink: ImportSink) throws {
        var categories: [String: String] = [:]
        for file in files {
            let probe = try sink.probeCSV(file, delimiter: "\t", format: name)
            let first = try probe.nextRow() ?? []
            if first.count >= 3 && first[0] == "SessionId" {
                try readPrepared(file, sink)
            } else {
                try readRaw(file, sink, buys: file.contains("buys"), categories: &categories)
            }
        }
    }

    private func readPrepared(_ path: String, _ sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: "\t")
        guard let names = try reader.nextRow() else { return }
        let header = Header(names)
        let session = try header.require("SessionId", in: path), item = try header.require("ItemId", in: path)
        let time = try header.require("Time", in: path)
        let width = max(session, item, time) + 1
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, width)
                return [
                    .event(
                        EventInput(
                            user: "s-" + fields[session], item: fields[item], type: "click",
                            timestamp: try FieldParsing.timestamp(fields[time], column: "Time", unit: .seconds),
                            session: fields[session]))
                ]
            }
        }
    }

    private func readRaw(_ path: String, _ sink: ImportSink, buys: Bool, categories: inout [String: String]) throws {
        let reader = try sink.openCSV(path)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, buys ? 5 : 4)
                let session = fields[0], item = fields[2]
                guard !session.isEmpty, !item.isEmpty else { throw FieldParsing.Invalid(message: "empty session or item id") }
                let time = try FieldParsing.timestamp(fields[1], column: "timestamp", unit: .iso)
                var records: [ImportRecord] = []
                if buys {
                    let price = try FieldParsing.number(fields[3], column: "price")
                    let quantity = try FieldParsing.number(fields[4], column: "quantity")
                    if price > 0 { records.append(.item(id: item, attributes: ["price": .number(price)])) }
                    records.append(
                        .event(
                            EventInput(
                                user: "s-" + session, item: item, type: "purchase", value: max(quantity, 1), timestamp: time,
                                session: session)))
                } else {
                    let category = fields[3]
                    if category != "0" && categories[item] != category {
                        categories[item] = category
                        let attributes: Attributes
                        if category == "S" {
                            attributes = ["tags": .strings(["special-offer"])]
                        } else if let number = Int(category), (1...12).contains(number) {
                            attributes = ["category": .string(category)]
                        } else {
                            attributes = ["brand": .string(category)]
                        }
                        records.append(.item(id: item, attributes: attributes))
                    }
                    records.append(
                        .event(EventInput(user: "s-" + session, item: item, type: "click", timestamp: time, session: session)))
                }
                return records
            }
        }
    }
}

/// RetailRocket. Accepts the Kaggle `events.csv` (`timestamp,visitorid,event,itemid,transactionid`, milliseconds;
/// `view`, `addtocart` → `cart`, `transaction` → `purchase`) or the session sample (`timestamp user_id item_id
/// session_id`, tab-separated, seconds; `view` events with explicit sessions).
public struct RetailRocketFormat: ImportFormat {
    /// `retailrocket`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "retailrocket"
    /// The events file (plain or gzip).
    public let path: String

    /// Takes the file, or a folder holding `events.csv` (else any `.csv`). Throws `notFound` when there is none.
    public init(path: String) throws {
        self.path = try DatasetFiles.file(at: path, what: "events.csv") {
            DatasetFiles.find(in: $0, names: ["events.csv"]) ?? DatasetFiles.find(in: $0, suffixes: [".csv"])
        }
    }

    /// Looks at the first row to tell the Kaggle CSV from the tab-separated session sample, then reads every row.
    public func read(into sink: ImportSink) throws {
        let probe = try sink.probeCSV(path, delimiter: "\t", format: name)
        let first = try probe.nextRow() ?? []
        let tabbed = first.count >= 4
        let reader = try sink.openCSV(path, delimiter: tabbed ? "\t" : ",")
        guard let names = try reader.nextRow() else { throw RecDBError(.truncatedInput, "the file is empty", location: path) }
        let header = Header(names)
        if tabbed {
            let time = try header.require("timestamp", in: path), user = try header.require("user_id", in: path)
            let item = try header.require("item_id", in: path), session = try header.require("session_id", in: path)
            try sink.forEachRow(of: reader) { fields in
                try sink.parseRow(at: reader.location) {
                    try requireFields(fields, names.count)
                    return [
                        .event(
                            EventInput(
                                user: fields[user], item: fields[item], type: "view",
                                timestamp: try FieldParsing.timestamp(fields[time], column: "timestamp", unit: .seconds),
                                session: "rr-" + fields[session]))
                    ]
                }
            }
            return
        }
        let time = try header.require("timestamp", in: path), visitor = try header.require("visitorid", in: path)
        let event = try header.require("event", in: path), item = try header.require("itemid", in: path)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, names.count)
                let type: String
                switch fields[event] {
                case "view": type = "view"
                case "addtocart": type = "cart"
                case "transaction": type = "purchase"
                default: throw FieldParsing.Invalid(message: "unknown event '\(fields[event].prefix(40))'")
                }
                return [
                    .event(
                        EventInput(
                            user: fields[visitor], item: fields[item], type: type,
                            timestamp: try FieldParsing.timestamp(fields[time], column: "timestamp", unit: .milliseconds)))
                ]
            }
        }
    }
}

/// DIGINETICA (CIKM Cup 2016) item views: `session_id;user_id;item_id;timeframe;eventdate`. A view without a user
/// (`NA`) belongs to the anonymous visitor `s-SESSION`. The time is the event date plus the timeframe (ms).
public struct DigineticaFormat: ImportFormat {
    /// `diginetica`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "diginetica"
    /// The item-views file (plain or gzip).
    public let path: String

    /// Takes the file, or a folder holding a `*item-views.csv`. Throws `notFound` when there is none.
    public init(path: String) throws {
        self.path = try DatasetFiles.file(at: path, what: "*item-views.csv") {
            DatasetFiles.find(in: $0, suffixes: ["item-views.csv"])
        }
    }

    /// Reads the `;`-separated header, then one `view` event per row.
    public func read(into sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: ";")
        guard let names = try reader.nextRow() else { throw RecDBError(.truncatedInput, "the file is empty", location: path) }
        let header = Header(names)
        let session = try header.require("session_id", in: path), user = try header.require("user_id", in: path)
        let item = try header.require("item_id", in: path), frame = try header.require("timeframe", in: path)
        let date = try header.require("eventdate", in: path)
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, names.count)
                let day = try FieldParsing.timestamp(fields[date], column: "eventdate", unit: .iso)
                let offset = try FieldParsing.number(fields[frame], column: "timeframe")
                let visitor = fields[user] == "NA" || fields[user].isEmpty ? "s-" + fields[session] : fields[user]
                return [
                    .event(
                        EventInput(
                            user: visitor, item: fields[item], type: "view",
                            timestamp: Timestamp(milliseconds: day.milliseconds + Int64(offset)), session: fields[session]))
                ]
            }
        }
    }
}
