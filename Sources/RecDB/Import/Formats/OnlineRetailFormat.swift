import Foundation

/// The UCI Online Retail invoice lines (`InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,
/// Country`, optionally gzipped). Each invoice is a session; a positive quantity is a `purchase`, a negative one (or a
/// `C` cancellation invoice) a `return`, with the absolute quantity as value; a line without a customer belongs to an
/// anonymous guest user, one per invoice (`guest-INVOICE`). The description becomes the item title and the unit price
/// its price (the latest positive one wins).
public struct OnlineRetailFormat: ImportFormat {
    /// `online-retail`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "online-retail"
    /// The CSV file (plain or gzip).
    public let path: String

    /// Takes the CSV file, or a folder holding a `.csv`. Throws `notFound` when there is none.
    public init(path: String) throws {
        self.path = try DatasetFiles.file(at: path, what: "Online Retail CSV") { DatasetFiles.find(in: $0, suffixes: [".csv"]) }
    }

    /// Reads the header (every column named above is required), then one event per invoice line.
    public func read(into sink: ImportSink) throws {
        let reader = try sink.openCSV(path)
        guard let names = try reader.nextRow() else { throw RecDBError(.truncatedInput, "the file is empty", location: path) }
        let header = Header(names.map { $0.trimmedSpaces })
        let invoiceColumn = try header.require("InvoiceNo", in: path)
        let codeColumn = try header.require("StockCode", in: path)
        let descriptionColumn = try header.require("Description", in: path)
        let quantityColumn = try header.require("Quantity", in: path)
        let dateColumn = try header.require("InvoiceDate", in: path)
        let priceColumn = try header.require("UnitPrice", in: path)
        let customerColumn = try header.require("CustomerID", in: path)
        let countryColumn = header.index["Country"]
        let width = names.count
        var items: [String: (title: String?, price: Double?)] = [:]
        var customers: [String: String] = [:]
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                try requireFields(fields, width)
                let invoice = fields[invoiceColumn], code = fields[codeColumn]
                guard !invoice.isEmpty else { throw FieldParsing.Invalid(message: "InvoiceNo is empty") }
                guard !code.isEmpty else { throw FieldParsing.Invalid(message: "StockCode is empty") }
                let quantity = try FieldParsing.number(fields[quantityColumn], column: "Quantity")
                guard quantity != 0 else { throw FieldParsing.Invalid(message: "Quantity is 0") }
                let price = try FieldParsing.number(fields[priceColumn], column: "UnitPrice")
                let time = try FieldParsing.timestamp(fields[dateColumn], column: "InvoiceDate", unit: .iso)
                var records: [ImportRecord] = []

                let title = fields[descriptionColumn].trimmedSpaces
                let known = items[code]
                var attributes: Attributes = [:]
                if !title.isEmpty && known?.title != title { attributes["title"] = .string(title) }
                if price > 0 && known?.price != price { attributes["price"] = .number(price) }
                if known == nil || !attributes.isEmpty {
                    items[code] = (title.isEmpty ? known?.title : title, price > 0 ? price : known?.price)
                    records.append(.item(id: code, attributes: attributes))
                }

                let customer = fields[customerColumn].trimmedSpaces
                let user: String
                if customer.isEmpty {
                    user = "guest-" + invoice
                    if customers[user] == nil {
                        customers[user] = ""
                        var guest: Attributes = ["guest": .bool(true)]
                        if let countryColumn, !fields[countryColumn].isEmpty { guest["country"] = .string(fields[countryColumn]) }
                        records.append(.user(id: user, attributes: guest))
                    }
                } else {
                    user = customer
                    let country = countryColumn.map { fields[$0] } ?? ""
                    if customers[user] != country {
                        customers[user] = country
                        records.append(.user(id: user, attributes: country.isEmpty ? [:] : ["country": .string(country)]))
                    }
                }
                let isReturn = quantity < 0 || invoice.hasPrefix("C")
                records.append(
                    .event(
                        EventInput(
                            user: user, item: code, type: isReturn ? "return" : "purchase", value: abs(quantity),
                            timestamp: time, session: invoice)))
                return records
            }
        }
    }
}
