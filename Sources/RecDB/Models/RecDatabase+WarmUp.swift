import Foundation

extension RecDatabase {
    /// Loads what serving reads into memory, so that the first requests after opening do not pay for it (a stored
    /// SASRec network takes about a second to load on a 100,000-item catalogue): one `RECOMMEND` for the user of the
    /// latest event through the default chain, then one through each trained model. Returns the models that
    /// answered; a model that cannot serve that user is skipped, as is everything when there are no events.
    ///
    /// ```swift
    /// let db = try RecDatabase.open(at: "shop")
    /// let warmed = try db.warmUp()  // ["als", "popularity", "sasrec", …]
    /// ```
    @discardableResult
    public func warmUp() throws -> [String] {
        let user: String? = try read { reader in
            let last = try reader.lastEventSequence()
            guard last > 0, let event = try reader.event(sequence: last) else { return nil }
            return try reader.externalUserID(event.userID)
        }
        guard let user else { return [] }
        let parameters: [String: QueryValue] = ["u": .string(user)]
        _ = try? query("RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN", parameters: parameters)
        var warmed: [String] = []
        for record in try models() where record.generation > 0 {
            let text = "RECOMMEND 10 ITEMS FOR USER $u USING \(record.name) STRICT"
            if (try? query(text, parameters: parameters)) != nil { warmed.append(record.name) }
        }
        return warmed
    }
}
