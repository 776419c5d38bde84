import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a tree is, for the rules of its leaves.
enum TreeKind {
    case freeList
    case main
    case named
    /// The sorted duplicates of one key, kept as a tree of their own (a sub-database).
    case duplicates
}

/// One tree being walked and what it was found to hold.
final class Tree {
    let name: String
    let kind: TreeKind
    let keyOrder: KeyOrder
    /// For a database with sorted duplicates: the order of its values.
    let duplicateOrder: KeyOrder?
    let fixedSizeDuplicates: Bool
    let integerDuplicates: Bool
    /// For a sub-database of fixed-size duplicates: the size of each (its leaves are LEAF2 pages).
    let fixedKeySize: Int
    let depth: Int
    /// For a sub-database: the key whose duplicates it holds (in the parent's page buffer, valid during the walk).
    let outerKey: UnsafeRawBufferPointer?

    var branchPages: UInt64 = 0
    var leafPages: UInt64 = 0
    var overflowPages: UInt64 = 0
    var entries: UInt64 = 0
    /// For the main database: the named databases found in its leaves.
    var named: [(name: [UInt8], record: DatabaseRecord, page: UInt64)] = []

    init(name: String, kind: TreeKind, flags: UInt16, depth: Int, fixedKeySize: Int = 0,
        outerKey: UnsafeRawBufferPointer? = nil
    ) {
        self.name = name
        self.kind = kind
        self.depth = depth
        self.fixedKeySize = fixedKeySize
        self.outerKey = outerKey
        keyOrder = KeyOrder(
            reverse: flags & LMDBLayout.reverseKey != 0, integer: flags & LMDBLayout.integerKey != 0)
        if flags & LMDBLayout.dupSort != 0 {
            duplicateOrder = KeyOrder(
                reverse: flags & LMDBLayout.reverseDup != 0, integer: flags & LMDBLayout.integerDup != 0)
        } else {
            duplicateOrder = nil
        }
        fixedSizeDuplicates = flags & LMDBLayout.dupFixed != 0
        integerDuplicates = flags & LMDBLayout.integerDup != 0
    }
}

/// Reads the file with `pread` and collects problems; used once.
final class FileWalker {
    let fd: Int32
    let path: String
    let limit: Int
    var problems: [FileProblem] = []
    var stoppedAtLimit = false
    var fileSize = 0
    var pageSize = 0
    var lastPage: UInt64 = 0
    var used = Bitmap(bits: 0)
    var free = Bitmap(bits: 0)
    /// Pages the bitmaps cover: those the file holds (a damaged meta page may claim any number).
    var presentPages: UInt64 = 0
    /// Pages listed free beyond the end of the file (LMDB may allocate and free pages at the end without writing
    /// them).
    var freeBeyondEnd = Set<UInt64>()
    /// Page buffers, one per level of the walk's recursion, so that a parent's keys stay valid below it.
    var buffers: [UnsafeMutableRawPointer] = []
    /// Scratch: the bytes of a page that its nodes cover, to find overlaps.
    let covered = Bitmap(bits: UInt64(LMDBLayout.maxPageSize))
    var pagesChecked = 0
    var pagesInUse = 0
    var databases: [String] = []

    init(fd: Int32, path: String, limit: Int) {
        self.fd = fd
        self.path = path
        self.limit = limit
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    var full: Bool { problems.count >= limit }

    // MARK: Reports

    func report(_ database: String, page: UInt64?, key: String?, _ message: String) {
        guard problems.count < limit else {
            stoppedAtLimit = true
            return
        }
        problems.append(FileProblem(database: database, page: page, key: key, message: message))
        if problems.count >= limit { stoppedAtLimit = true }
    }

    func report(_ tree: Tree, page: UInt64?, key: UnsafeRawBufferPointer?, _ message: String) {
        if let outerKey = tree.outerKey {
            // A sub-database: the outer key locates it; the duplicate value is part of the message.
            let value = key.map { " (value \(FileVerifier.describeKey($0)))" } ?? ""
            report(tree.name, page: page, key: FileVerifier.describeKey(outerKey), "in its duplicates\(value): \(message)")
        } else {
            report(tree.name, page: page, key: key.map(FileVerifier.describeKey), message)
        }
    }

    // MARK: Reading

    /// Reads `count` bytes at `offset` into `buffer`; returns the bytes read (short at the end of the file).
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return done
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The buffer of recursion level `slot`.
    func buffer(_ slot: Int) -> UnsafeMutableRawPointer {
        while buffers.count <= slot {
            buffers.append(.allocate(byteCount: max(pageSize, LMDBLayout.metaBytes), alignment: 16))
        }
        return buffers[slot]
    }

    /// Page `page` read into the buffer of `slot`, or nil when the file ends before it.
    func readPage(_ page: UInt64, slot: Int) -> UnsafeRawPointer? {
        let target = buffer(slot)
        let got = read(into: target, count: pageSize, at: Int(page) * pageSize)
        return got == pageSize ? UnsafeRawPointer(target) : nil
    }

    func readMeta(at offset: Int, index: Int) -> MetaPage? {
        var bytes = [UInt8](repeating: 0, count: LMDBLayout.metaBytes)
        let got = bytes.withUnsafeMutableBytes { read(into: $0.baseAddress!, count: LMDBLayout.metaBytes, at: offset) }
        guard got == LMDBLayout.metaBytes else { return nil }
        return bytes.withUnsafeBytes { MetaPage($0.baseAddress!, index: index) }
    }

    // MARK: The check

    func run(level: FileVerifier.Level, transaction: UInt64?) -> FileVerification? {
        let start = ContinuousClock.now
        var snapshot: FileVerification.Snapshot?
        var previous: FileVerification.Snapshot?
        var notLMDB = false
        var walked = false

        // Meta pages first, then the size: a writer extends the file before it writes the meta page that counts the
        // new pages, so a size read after the meta pages is never too small for them.
        switch checkHeader(transaction: transaction) {
        case .stale:
            return nil
        case .empty:
            break
        case .foreign:
            notLMDB = true
        case .damaged(let chosen, let other):
            snapshot = chosen.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
            previous = other.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
        case .sound(let meta, let other):
            snapshot = .init(metaPage: meta.index, transaction: meta.transaction, lastPage: meta.lastPage)
            previous = other.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
            walked = walk(meta, other: other, level: level)
        }
        return FileVerification(
            path: path, fileSize: fileSize, pageSize: pageSize, snapshot: snapshot, previousSnapshot: previous,
            problems: problems, stoppedAtLimit: stoppedAtLimit, walkedTrees: walked, notLMDB: notLMDB,
            pagesChecked: pagesChecked, pagesInUse: pagesInUse, databases: databases,
            seconds: (ContinuousClock.now - start).seconds)
    }

    enum Header {
        case empty
        case foreign
        case stale
        /// The meta page LMDB would use (nil when none can be told), and the other when it is sound.
        case damaged(MetaPage?, MetaPage?)
        case sound(MetaPage, other: MetaPage?)
    }

    func fileLength() -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    func checkHeader(transaction: UInt64?) -> Header {
        // A writer may commit between the two reads; a pair that fails is read again before it is reported.
        var attempt = 0
        while true {
            let mark = problems.count
            let header = readHeader(transaction: transaction)
            attempt += 1
            guard case .damaged = header, attempt < 3, transaction == nil || attempt < 2 else { return header }
            problems.removeSubrange(mark...)
            stoppedAtLimit = false
            usleep(1_000)
        }
    }

    func readHeader(transaction: UInt64?) -> Header {
        fileSize = fileLength()
        if fileSize == 0 && transaction == nil { return .empty }
        guard let meta0 = readMeta(at: 0, index: 0) else {
            report(
                "file", page: nil, key: nil,
                "data.mdb is \(fileSize) bytes: too short for LMDB's first meta page (\(LMDBLayout.metaBytes) bytes)")
            return .damaged(nil, nil)
        }
        // The page size is in meta page 0; when that is damaged, look for meta page 1 at each possible size.
        var size: Int?
        if meta0.hasMagic && LMDBLayout.isValidPageSize(meta0.pageSize) {
            size = meta0.pageSize
        } else {
            for candidate in [4096, 8192, 16384, 32768, 2048, 1024, 512] {
                if let meta1 = readMeta(at: candidate, index: 1), meta1.hasMagic, meta1.pageSize == candidate,
                    meta1.storedPage == 1
                {
                    size = candidate
                    break
                }
            }
        }
        guard let pageSize = size else {
            if meta0.magic != LMDBLayout.magic {
                report(
                    "meta pages", page: 0, key: nil,
                    "no LMDB meta page: neither page 0 nor page 1 carries LMDB's magic number (not an LMDB file, or "
                        + "its first pages are destroyed)")
                return .foreign
            }
            report(
                "meta pages", page: 0, key: nil,
                "page size \(meta0.pageSize) is not a power of two in 512…32768, and no meta page 1 was found")
            return .damaged(nil, nil)
        }
        self.pageSize = pageSize
        guard let meta1 = readMeta(at: pageSize, index: 1) else {
            report(
                "file", page: nil, key: nil,
                "data.mdb is \(fileSize) bytes: it ends inside meta page 1 (pages of \(pageSize) bytes)")
            return .damaged(nil, nil)
        }
        let faults0 = metaFaults(meta0), faults1 = metaFaults(meta1)
        let metas = [meta0, meta1], faults = [faults0, faults1]

        // The snapshot: the pinned transaction's meta page, else the newer one, as LMDB picks it.
        let chosen: MetaPage
        if let transaction {
            guard let pinned = metas.first(where: { $0.transaction == transaction }) else { return .stale }
            chosen = pinned
        } else {
            chosen = meta0.transaction < meta1.transaction ? meta1 : meta0
        }
        let other = metas[1 - chosen.index]
        let otherSound = faults[other.index].isEmpty
        for meta in [chosen, other] {
            for (n, fault) in faults[meta.index].enumerated() {
                var text = fault
                if n == 0 && meta.index == chosen.index && otherSound {
                    text += " (meta page \(other.index), transaction \(other.transaction), is intact)"
                }
                report("meta pages", page: UInt64(meta.index), key: nil, text)
            }
        }
        if !faults0.isEmpty || !faults1.isEmpty {
            return .damaged(chosen, otherSound && other.transaction < chosen.transaction ? other : nil)
        }
        // Two meta pages of one transaction: only a new file, both empty (LMDB would take page 0 and lose page 1).
        if meta0.transaction == meta1.transaction
            && !(meta0.transaction == 0 && [meta0, meta1].allSatisfy { $0.main.isEmpty && $0.free.isEmpty })
        {
            report(
                "meta pages", page: 0, key: nil,
                "both meta pages hold transaction \(meta0.transaction), and they are not those of a new, empty file")
            return .damaged(chosen, nil)
        }
        // Each commit writes the meta page of its transaction's parity: the two hold consecutive transactions (both 0
        // in a new file). A pinned check skips this: writers may commit several times between its two reads.
        if transaction == nil && !(meta0.transaction == 0 && meta1.transaction == 0)
            && max(meta0.transaction, meta1.transaction) - min(meta0.transaction, meta1.transaction) != 1
        {
            report(
                "meta pages", page: UInt64(chosen.index), key: nil,
                "the meta pages hold transactions \(meta0.transaction) and \(meta1.transaction); "
                    + "consecutive ones were expected")
            return .damaged(chosen, nil)
        }
        // The file never shrinks: an older snapshot ends at or before the newer one.
        if other.transaction < chosen.transaction && other.lastPage > chosen.lastPage {
            report(
                "meta pages", page: UInt64(other.index), key: nil,
                "the older meta page (transaction \(other.transaction)) ends at page \(other.lastPage), after the newer "
                    + "one's last page \(chosen.lastPage)")
            return .damaged(chosen, nil)
        }
        lastPage = chosen.lastPage
        return .sound(chosen, other: other.transaction < chosen.transaction ? other : nil)
    }

    /// What is wrong with one meta page (empty when sound). The page size is the file's.
    func metaFaults(_ meta: MetaPage) -> [String] {
        var faults: [String] = []
        guard meta.magic == LMDBLayout.magic else {
            return [String(format: "magic number 0x%08x, not LMDB's 0xbeefc0de", meta.magic)]
        }
        if meta.flags != LMDBLayout.meta {
            faults.append(String(format: "page flags 0x%04x, not a meta page's 0x0008", meta.flags))
        }
        if meta.version != LMDBLayout.dataVersion {
            faults.append("format version \(meta.version); this LMDB reads version \(LMDBLayout.dataVersion)")
        }
        if meta.storedPage != UInt64(meta.index) {
            faults.append("its header says it is page \(meta.storedPage)")
        }
        if meta.pageSize != pageSize {
            faults.append("page size \(meta.pageSize); the file's is \(pageSize)")
        }
        if meta.address != 0 && meta.free.flags & LMDBLayout.fixedMap == 0 {
            faults.append(String(format: "map address 0x%llx without a fixed map", meta.address))
        }
        if meta.transaction != 0 && Int(meta.transaction % 2) != meta.index {
            faults.append("transaction \(meta.transaction) belongs in meta page \(meta.transaction % 2)")
        }
        let maxPage = UInt64(Int.max / max(pageSize, 1)) - 1
        if meta.lastPage < 1 || meta.lastPage > maxPage {
            faults.append("last page \(meta.lastPage) is impossible")
            return faults
        }
        let freeFlags = meta.free.flags
        if freeFlags & LMDBLayout.integerKey == 0
            || freeFlags & ~(LMDBLayout.integerKey | LMDBLayout.environmentFlags) != 0
        {
            faults.append(String(format: "the free list's flags are 0x%04x", freeFlags))
        }
        if meta.main.flags & ~LMDBLayout.databaseFlags != 0 {
            faults.append(String(format: "the main database's flags are 0x%04x", meta.main.flags))
        }
        for (name, record) in [("free list", meta.free), ("main database", meta.main)] {
            if let fault = recordFault(record, lastPage: meta.lastPage) { faults.append("the \(name): \(fault)") }
        }
        return faults
    }

    /// What is wrong with a tree's root, depth and counts as its record gives them, or nil.
    func recordFault(_ record: DatabaseRecord, lastPage: UInt64) -> String? {
        if record.isEmpty {
            if record.depth != 0 || record.branchPages != 0 || record.leafPages != 0 || record.overflowPages != 0
                || record.entries != 0
            {
                return "an empty tree with depth \(record.depth), \(record.leafPages) leaf pages and "
                    + "\(record.entries) entries"
            }
            return nil
        }
        if record.root < 2 || record.root > lastPage {
            return "root page \(record.root) lies outside the file's pages 2…\(lastPage)"
        }
        if record.depth < 1 || Int(record.depth) > LMDBLayout.maxDepth {
            return "depth \(record.depth) (LMDB walks 1…\(LMDBLayout.maxDepth) levels)"
        }
        let pages = record.branchPages.addingReportingOverflow(record.leafPages)
        let all = pages.partialValue.addingReportingOverflow(record.overflowPages)
        if pages.overflow || all.overflow || all.partialValue > lastPage || record.leafPages == 0 {
            return "page counts \(record.branchPages) branch, \(record.leafPages) leaf, \(record.overflowPages) "
                + "overflow do not fit a file of \(lastPage + 1) pages"
        }
        return nil
    }

    // MARK: Trees

    /// Checks the size against `meta`, then (for a full check) walks every tree. Returns whether trees were walked.
    func walk(_ meta: MetaPage, other: MetaPage?, level: FileVerifier.Level) -> Bool {
        let required = (Int(meta.lastPage) + 1) * pageSize
        let short = fileSize < required
        guard level == .full || short else { return false }
        presentPages = min(meta.lastPage + 1, UInt64(fileSize / pageSize))
        used = Bitmap(bits: max(presentPages, 2))
        free = Bitmap(bits: max(presentPages, 2))
        _ = used.insert(0)
        _ = used.insert(1)
        pagesInUse = 2
        pagesChecked = 2

        // The free list first: a file may end before pages that are listed free, never before pages in use.
        let mark = problems.count
        let freeList = Tree(name: "free list", kind: .freeList, flags: meta.free.flags, depth: Int(meta.free.depth))
        walkTree(meta.free, freeList, slot: 0)
        if short {
            // Every missing page must be listed free (each is listed once, and all lie in present...lastPage).
            let missing = meta.lastPage + 1 - presentPages
            let missingInUse = problems.count > mark || UInt64(freeBeyondEnd.count) != missing
            if missingInUse {
                problems.removeSubrange(mark...)
                stoppedAtLimit = false
                report(
                    "file", page: nil, key: nil,
                    "data.mdb is \(fileSize) bytes, but meta page \(meta.index) (transaction \(meta.transaction)) needs "
                        + "\(required) bytes (pages 0…\(meta.lastPage) of \(pageSize) bytes): the file is truncated"
                        + (other.map { $0.lastPage < UInt64(fileSize / pageSize) } == true
                            ? ", or that meta page is damaged (meta page \(other!.index), transaction "
                                + "\(other!.transaction), fits the file)" : ""))
                return false
            }
        }
        guard level == .full, !full else { return false }

        let main = Tree(name: "main", kind: .main, flags: meta.main.flags, depth: Int(meta.main.depth))
        walkTree(meta.main, main, slot: 0)
        for (nameBytes, record, page) in main.named {
            if full { break }
            let name = nameBytes.withUnsafeBytes { bytes in
                String(validating: nameBytes, as: UTF8.self) ?? FileVerifier.describeKey(bytes)
            }
            databases.append(name)
            if record.flags & ~LMDBLayout.databaseFlags != 0
                || (record.flags & LMDBLayout.dupSort == 0
                    && record.flags & (LMDBLayout.dupFixed | LMDBLayout.integerDup | LMDBLayout.reverseDup) != 0)
            {
                report("main", page: page, key: "'\(name)'", String(format: "database flags 0x%04x", record.flags))
                continue
            }
            if let fault = recordFault(record, lastPage: lastPage) {
                report("main", page: page, key: "'\(name)'", "the database's record: \(fault)")
                continue
            }
            walkTree(record, Tree(name: name, kind: .named, flags: record.flags, depth: Int(record.depth)), slot: 0)
        }
        if problems.isEmpty { crossCheckFreePages() }
        return true
    }

    /// Every page after the meta pages is either in use or listed free, never both.
    func crossCheckFreePages() {
        var both = 0, neither = 0
        var firstBoth: UInt64?, firstNeither: UInt64?
        if lastPage >= 2 {
            for page in 2..<max(presentPages, 2) {
                let inUse = used.contains(page), isFree = free.contains(page)
                if inUse && isFree {
                    both += 1
                    if firstBoth == nil { firstBoth = page }
                } else if !inUse && !isFree {
                    neither += 1
                    if firstNeither == nil { firstNeither = page }
                }
            }
        }
        if let firstBoth {
            report(
                "free list", page: firstBoth, key: nil,
                "\(both) page\(both == 1 ? " is" : "s are") listed free but in use (a writer would overwrite live data)")
        }
        if let firstNeither {
            report(
                "free list", page: firstNeither, key: nil,
                "\(neither) page\(neither == 1 ? " is" : "s are") neither in use nor listed free")
        }
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
