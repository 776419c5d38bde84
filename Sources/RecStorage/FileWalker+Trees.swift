import Foundation

#if canImport(Glibc)
import Glibc
#endif

// The walk of one tree's pages, nodes, overflow chains and sub-databases.
extension FileWalker {
    /// Walks the tree of `record` and compares what it holds with the record.
    func walkTree(_ record: DatabaseRecord, _ tree: Tree, slot: Int) {
        guard !record.isEmpty, !full else { return }
        let mark = problems.count
        walkPage(record.root, level: 1, tree, lower: nil, upper: nil, near: nil, slot: slot)
        guard problems.count == mark else { return }
        if tree.branchPages != record.branchPages || tree.leafPages != record.leafPages
            || tree.overflowPages != record.overflowPages || tree.entries != record.entries
        {
            report(
                tree, page: record.root, key: nil,
                "the database record counts \(record.branchPages) branch, \(record.leafPages) leaf and "
                    + "\(record.overflowPages) overflow pages with \(record.entries) entries; the tree has "
                    + "\(tree.branchPages), \(tree.leafPages), \(tree.overflowPages) and \(tree.entries)")
        }
    }

    /// Checks page `page` at `level` (1 for the root) and everything below it. Its keys must lie in
    /// `lower ..< upper` (nil: no bound); `near` is the key that led here, for reports.
    func walkPage(
        _ page: UInt64, level: Int, _ tree: Tree, lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
        near: UnsafeRawBufferPointer?, slot: Int
    ) {
        if full { return }
        guard page < presentPages else {
            report(tree, page: page, key: near, "the page lies beyond the end of the file (\(fileSize) bytes)")
            return
        }
        guard used.insert(page) else {
            report(tree, page: page, key: near, "the page is reached a second time (a loop, or a page of two trees)")
            return
        }
        guard let p = readPage(page, slot: slot) else {
            report(tree, page: page, key: near, "the page lies beyond the end of the file (\(fileSize) bytes)")
            return
        }
        pagesChecked += 1
        pagesInUse += 1
        let stored = p.u64(0)
        guard stored == page else {
            report(tree, page: page, key: near, "the page's header says it is page \(stored)")
            return
        }
        let flags = p.u16(10)
        let leafLevel = level == tree.depth
        let leafFlags = tree.fixedKeySize > 0 ? LMDBLayout.leaf | LMDBLayout.leaf2 : LMDBLayout.leaf
        let isBranch = flags == LMDBLayout.branch
        guard isBranch || flags == leafFlags else {
            report(
                tree, page: page, key: near,
                String(format: "page flags 0x%04x, where a ", flags) + (leafLevel ? "leaf" : "branch")
                    + String(format: " page (0x%04x) belongs", leafLevel ? leafFlags : LMDBLayout.branch))
            return
        }
        guard isBranch != leafLevel else {
            report(
                tree, page: page, key: near,
                "a \(isBranch ? "branch" : "leaf") page at level \(level) of a tree \(tree.depth) levels deep")
            return
        }
        let lowerBound = Int(p.u16(12)), upperBound = Int(p.u16(14))
        guard lowerBound >= LMDBLayout.pageHeaderSize, lowerBound & 1 == 0, lowerBound <= upperBound,
            upperBound <= pageSize
        else {
            report(
                tree, page: page, key: near,
                "free-space bounds \(lowerBound)…\(upperBound) are impossible in a page of \(pageSize) bytes")
            return
        }
        let count = (lowerBound - LMDBLayout.pageHeaderSize) / 2
        let minimum = isBranch ? (tree.kind == .freeList ? 1 : 2) : 1
        guard count >= minimum else {
            report(tree, page: page, key: near, "a \(isBranch ? "branch" : "leaf") page with \(count) entries")
            return
        }
        if isBranch {
            tree.branchPages += 1
        } else {
            tree.leafPages += 1
        }
        if flags == LMDBLayout.leaf | LMDBLayout.leaf2 {
            checkFixedKeys(p, page: page, count: count, tree, lower: lower, upper: upper, near: near)
            return
        }
        guard checkNodes(p, page: page, count: count, upperBound: upperBound, isBranch: isBranch, tree,
            lower: lower, upper: upper, near: near)
        else { return }

        if isBranch {
            for i in 0..<count {
                if full { return }
                let node = Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i))
                let child = UInt64(p.u16(node)) | UInt64(p.u16(node + 2)) << 16 | UInt64(p.u16(node + 4)) << 32
                let key = i == 0 ? nil : nodeKey(p, node)
                guard child >= 2 && child <= lastPage else {
                    report(
                        tree, page: page, key: key ?? near,
                        "child page \(child) lies outside the file's pages 2…\(lastPage)")
                    return
                }
                let next = i + 1 < count ? nodeKey(p, Int(p.u16(LMDBLayout.pageHeaderSize + 2 * (i + 1)))) : upper
                walkPage(child, level: level + 1, tree, lower: key ?? lower, upper: next, near: key ?? near,
                    slot: slot + 1)
            }
        } else {
            for i in 0..<count {
                if full { return }
                checkLeafNode(p, page: page, node: Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i)), tree, slot: slot)
            }
        }
    }

    @inline(__always)
    func nodeKey(_ p: UnsafeRawPointer, _ node: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p + node + LMDBLayout.nodeHeaderSize, count: Int(p.u16(node + 6)))
    }

    /// Checks the node table of a page (or sub-page) of `size` bytes at `p`: every node inside the node area and the
    /// page, no overlaps, keys ascending within `lower ..< upper`. Returns whether the page can be read further.
    func checkNodes(
        _ p: UnsafeRawPointer, page: UInt64, count: Int, upperBound: Int, size: Int? = nil, isBranch: Bool,
        _ tree: Tree, order: KeyOrder? = nil, lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
        near: UnsafeRawBufferPointer?, subPage: Bool = false
    ) -> Bool {
        let size = size ?? pageSize
        let order = order ?? tree.keyOrder
        let what = subPage ? "sub-page" : "page"
        covered.clear(bits: size)
        var previous: UnsafeRawBufferPointer?
        for i in 0..<count {
            let node = Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i))
            guard node >= upperBound, node + LMDBLayout.nodeHeaderSize <= size, subPage || node & 1 == 0 else {
                report(
                    tree, page: page, key: previous ?? near,
                    "node \(i) of the \(what) starts at offset \(node), outside its node area \(upperBound)…\(size)")
                return false
            }
            let keySize = Int(p.u16(node + 6))
            var length = LMDBLayout.nodeHeaderSize + keySize
            if !isBranch {
                let nodeFlags = p.u16(node + 4)
                length += nodeFlags & LMDBLayout.bigData != 0 ? 8 : Int(p.u16(node)) | Int(p.u16(node + 2)) << 16
            }
            guard node + length <= size else {
                report(
                    tree, page: page, key: previous ?? near,
                    "node \(i) of the \(what) (\(length) bytes at offset \(node)) runs past its end (\(size) bytes)")
                return false
            }
            guard covered.insertRange(node, node + length) else {
                report(tree, page: page, key: previous ?? near, "two nodes of the \(what) overlap at offset \(node)")
                return false
            }
            if isBranch && i == 0 { continue }  // The first key of a branch page is not used.
            let key = UnsafeRawBufferPointer(start: p + node + LMDBLayout.nodeHeaderSize, count: keySize)
            let emptyAllowed = tree.kind == .duplicates || subPage
            guard keySize <= LMDBLayout.maxKeySize, keySize > 0 || emptyAllowed else {
                report(
                    tree, page: page, key: previous ?? near,
                    "a key of \(keySize) bytes (LMDB keys have 1…\(LMDBLayout.maxKeySize))")
                return false
            }
            if let previous {
                guard order.compare(previous, key) < 0 else {
                    report(
                        tree, page: page, key: key,
                        "keys out of order: it follows \(FileVerifier.describeKey(previous))")
                    return false
                }
            } else if let lower, order.compare(key, lower) < 0 {
                report(
                    tree, page: page, key: key,
                    "the key sorts before \(FileVerifier.describeKey(lower)), where its parent page puts this page")
                return false
            }
            previous = key
        }
        if let previous, let upper, order.compare(previous, upper) >= 0 {
            report(
                tree, page: page, key: previous,
                "the key sorts at or after \(FileVerifier.describeKey(upper)), where its parent page puts the next page")
            return false
        }
        return true
    }

    /// Checks the fixed-size keys of a LEAF2 page (sorted duplicates of fixed size, packed after the header).
    func checkFixedKeys(
        _ p: UnsafeRawPointer, page: UInt64, count: Int, _ tree: Tree, lower: UnsafeRawBufferPointer?,
        upper: UnsafeRawBufferPointer?, near: UnsafeRawBufferPointer?
    ) {
        let width = tree.fixedKeySize
        guard LMDBLayout.pageHeaderSize + count * width <= pageSize else {
            report(tree, page: page, key: near, "\(count) values of \(width) bytes do not fit the page")
            return
        }
        if checkFixedKeys(p, count: count, width: width, order: tree.keyOrder, tree, page: page, lower: lower,
            upper: upper)
        {
            tree.entries += UInt64(count)
        }
    }

    func checkFixedKeys(
        _ p: UnsafeRawPointer, count: Int, width: Int, order: KeyOrder, _ tree: Tree, page: UInt64,
        lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?
    ) -> Bool {
        var previous = lower
        for i in 0..<count {
            let key = UnsafeRawBufferPointer(start: p + LMDBLayout.pageHeaderSize + i * width, count: width)
            if let previous, order.compare(previous, key) >= (i == 0 ? 1 : 0) {
                report(
                    tree, page: page, key: key,
                    i == 0 ? "the value sorts before \(FileVerifier.describeKey(previous)), where its parent page "
                        + "puts this page" : "values out of order: it follows \(FileVerifier.describeKey(previous))")
                return false
            }
            previous = key
        }
        if let last = previous, count > 0, let upper, order.compare(last, upper) >= 0 {
            report(
                tree, page: page, key: last,
                "the value sorts at or after \(FileVerifier.describeKey(upper)), where its parent page puts the next "
                    + "page")
            return false
        }
        return true
    }

    /// Checks one leaf node's data: an inline or overflow value, a named database's record, a sub-page or
    /// sub-database of duplicates, or a free-list record.
    func checkLeafNode(_ p: UnsafeRawPointer, page: UInt64, node: Int, _ tree: Tree, slot: Int) {
        let key = nodeKey(p, node)
        let flags = p.u16(node + 4)
        let size = Int(p.u16(node)) | Int(p.u16(node + 2)) << 16
        let data = p + node + LMDBLayout.nodeHeaderSize + key.count
        let big = flags & LMDBLayout.bigData != 0

        switch tree.kind {
        case .duplicates:
            guard flags == 0 && size == 0 else {
                report(tree, page: page, key: key, "a duplicate value with node flags \(flags) and \(size) data bytes")
                return
            }
            tree.entries += 1

        case .freeList:
            guard flags & ~LMDBLayout.bigData == 0, key.count == 8 else {
                report(
                    tree, page: page, key: key,
                    "a free-list record with node flags \(flags) and a \(key.count)-byte key (8 expected)")
                return
            }
            tree.entries += 1
            if big {
                let first = data.u64(0)
                guard checkOverflow(first: first, size: size, tree, page: page, key: key) else { return }
                var bytes = [UInt8](repeating: 0, count: size)
                let got = bytes.withUnsafeMutableBytes {
                    read(into: $0.baseAddress!, count: size, at: Int(first) * pageSize + LMDBLayout.pageHeaderSize)
                }
                guard got == size else {
                    report(tree, page: first, key: key, "the free-list record runs past the end of the file")
                    return
                }
                bytes.withUnsafeBytes { checkFreeRecord($0.baseAddress!, size: size, tree, page: first, key: key) }
            } else {
                checkFreeRecord(data, size: size, tree, page: page, key: key)
            }

        case .main where flags == LMDBLayout.subData && tree.duplicateOrder == nil:
            guard size == LMDBLayout.recordSize else {
                report(tree, page: page, key: key, "a named database's record of \(size) bytes (48 expected)")
                return
            }
            tree.named.append((Array(key), DatabaseRecord(data), page))
            tree.entries += 1

        case .main, .named:
            guard let duplicateOrder = tree.duplicateOrder else {
                guard flags & ~LMDBLayout.bigData == 0 else {
                    report(tree, page: page, key: key, "node flags \(flags) in a database without duplicates")
                    return
                }
                tree.entries += 1
                if big { _ = checkOverflow(first: data.u64(0), size: size, tree, page: page, key: key) }
                return
            }
            switch flags {
            case 0:
                guard size <= LMDBLayout.maxKeySize else {
                    report(
                        tree, page: page, key: key,
                        "a value of \(size) bytes in a database of sorted duplicates (at most 511)")
                    return
                }
                tree.entries += 1
            case LMDBLayout.dupData:
                checkSubPage(data, size: size, tree, order: duplicateOrder, page: page, key: key)
            case LMDBLayout.dupData | LMDBLayout.subData:
                guard size == LMDBLayout.recordSize else {
                    report(tree, page: page, key: key, "a record of duplicates of \(size) bytes (48 expected)")
                    return
                }
                checkSubDatabase(DatabaseRecord(data), tree, order: duplicateOrder, page: page, key: key, slot: slot)
            default:
                report(tree, page: page, key: key, "node flags \(flags) in a database of sorted duplicates")
            }
        }
    }

    /// A free-list record: a count, then that many page numbers (`MDB_IDL`), each within the file and listed once.
    func checkFreeRecord(
        _ data: UnsafeRawPointer, size: Int, _ tree: Tree, page: UInt64, key: UnsafeRawBufferPointer
    ) {
        guard size >= 8, size % 8 == 0, data.u64(0) == UInt64(size / 8 - 1) else {
            report(
                tree, page: page, key: key,
                "a free-list record of \(size) bytes that says it holds \(size >= 8 ? data.u64(0) : 0) page numbers")
            return
        }
        for i in 1..<(size / 8) {
            let free = data.u64(8 * i)
            guard free >= 2 && free <= lastPage else {
                report(tree, page: page, key: key, "free page \(free) lies outside the file's pages 2…\(lastPage)")
                return
            }
            let listedOnce = free < presentPages ? self.free.insert(free) : freeBeyondEnd.insert(free).inserted
            guard listedOnce else {
                report(tree, page: page, key: key, "page \(free) is listed free twice")
                return
            }
        }
    }

    /// Checks the overflow run of a value of `size` bytes that begins at page `first`; returns whether it is sound.
    func checkOverflow(
        first: UInt64, size: Int, _ tree: Tree, page: UInt64, key: UnsafeRawBufferPointer
    ) -> Bool {
        let needed = UInt64((LMDBLayout.pageHeaderSize - 1 + size) / pageSize + 1)
        guard first >= 2, first <= lastPage, needed - 1 <= lastPage - first else {
            report(
                tree, page: page, key: key,
                "a value of \(size) bytes on overflow pages \(first)… outside the file's pages 2…\(lastPage)")
            return false
        }
        guard Int(first) * pageSize + LMDBLayout.pageHeaderSize + size <= fileSize else {
            report(
                tree, page: page, key: key,
                "a value of \(size) bytes on overflow pages from \(first) runs past the end of the file")
            return false
        }
        var header = [UInt8](repeating: 0, count: LMDBLayout.pageHeaderSize)
        let got = header.withUnsafeMutableBytes {
            read(into: $0.baseAddress!, count: LMDBLayout.pageHeaderSize, at: Int(first) * pageSize)
        }
        guard got == LMDBLayout.pageHeaderSize else {
            report(tree, page: page, key: key, "overflow page \(first) lies beyond the end of the file")
            return false
        }
        pagesChecked += 1
        let (stored, flags, pages) = header.withUnsafeBytes {
            ($0.baseAddress!.u64(0), $0.baseAddress!.u16(10), UInt64($0.baseAddress!.u32(12)))
        }
        guard stored == first, flags == LMDBLayout.overflow, pages >= needed, pages - 1 <= lastPage - first else {
            report(
                tree, page: page, key: key,
                String(format: "overflow page %llu says page %llu, flags 0x%04x, %llu pages; a value of %ld bytes "
                    + "needs an overflow page (0x0004) starting a run of %llu", first, stored, flags, pages, size,
                    needed))
            return false
        }
        guard first + pages <= presentPages else {
            report(
                tree, page: page, key: key,
                "overflow pages \(first)…\(first + pages - 1) run past the end of the file (\(fileSize) bytes)")
            return false
        }
        for run in first..<(first + pages) {
            guard used.insert(run) else {
                report(
                    tree, page: page, key: key,
                    "overflow page \(run) (of the run from \(first)) is reached a second time")
                return false
            }
        }
        tree.overflowPages += pages
        pagesInUse += Int(pages)
        return true
    }

    /// Checks a sub-page of sorted duplicates kept inside a leaf node (`F_DUPDATA` without `F_SUBDATA`).
    func checkSubPage(
        _ data: UnsafeRawPointer, size: Int, _ tree: Tree, order: KeyOrder, page: UInt64,
        key: UnsafeRawBufferPointer
    ) {
        func fail(_ message: String) { report(tree, page: page, key: key, "its duplicates' sub-page: \(message)") }
        guard size >= LMDBLayout.pageHeaderSize else { return fail("\(size) bytes, less than a page header") }
        let expected = LMDBLayout.leaf | LMDBLayout.dirty | LMDBLayout.subPage
            | (tree.fixedSizeDuplicates ? LMDBLayout.leaf2 : 0)
        let flags = data.u16(10)
        guard flags == expected else {
            return fail(String(format: "page flags 0x%04x (0x%04x expected)", flags, expected))
        }
        let lowerBound = Int(data.u16(12)), upperBound = Int(data.u16(14))
        guard lowerBound >= LMDBLayout.pageHeaderSize, lowerBound & 1 == 0, lowerBound <= upperBound,
            upperBound <= size
        else { return fail("free-space bounds \(lowerBound)…\(upperBound) in \(size) bytes") }
        let count = (lowerBound - LMDBLayout.pageHeaderSize) / 2
        guard count >= 1 else { return fail("no values") }
        if tree.fixedSizeDuplicates {
            let width = Int(data.u16(8))
            guard width >= 1, width <= LMDBLayout.maxKeySize, LMDBLayout.pageHeaderSize + count * width <= size else {
                return fail("\(count) values of \(width) bytes in \(size) bytes")
            }
            var previous: UnsafeRawBufferPointer?
            for i in 0..<count {
                let value = UnsafeRawBufferPointer(start: data + LMDBLayout.pageHeaderSize + i * width, count: width)
                if let previous, order.compare(previous, value) >= 0 {
                    return fail("values out of order (\(FileVerifier.describeKey(value)))")
                }
                previous = value
            }
        } else {
            let mark = problems.count
            let sub = Tree(name: tree.name, kind: .duplicates, flags: 0, depth: 1, outerKey: key)
            guard checkNodes(data, page: page, count: count, upperBound: upperBound, size: size, isBranch: false, sub,
                order: order, lower: nil, upper: nil, near: nil, subPage: true)
            else { return }
            for i in 0..<count {
                let node = Int(data.u16(LMDBLayout.pageHeaderSize + 2 * i))
                checkLeafNode(data, page: page, node: node, sub, slot: 0)
            }
            guard problems.count == mark else { return }
        }
        tree.entries += UInt64(count)
    }

    /// Checks a sub-database of sorted duplicates (`F_DUPDATA | F_SUBDATA`): its record, then its tree.
    func checkSubDatabase(
        _ record: DatabaseRecord, _ tree: Tree, order: KeyOrder, page: UInt64, key: UnsafeRawBufferPointer, slot: Int
    ) {
        let expected = tree.fixedSizeDuplicates
            ? LMDBLayout.dupFixed | (tree.integerDuplicates ? LMDBLayout.integerKey : 0) : 0
        guard record.flags == expected else {
            report(
                tree, page: page, key: key,
                String(format: "its duplicates' record has flags 0x%04x (0x%04x expected)", record.flags, expected))
            return
        }
        let width = tree.fixedSizeDuplicates ? Int(record.pad) : 0
        guard !tree.fixedSizeDuplicates || (width >= 1 && width <= LMDBLayout.maxKeySize) else {
            report(tree, page: page, key: key, "its duplicates' record gives a value size of \(record.pad) bytes")
            return
        }
        if let fault = recordFault(record, lastPage: lastPage) {
            report(tree, page: page, key: key, "its duplicates' record: \(fault)")
            return
        }
        guard record.entries >= 1 else {
            report(tree, page: page, key: key, "its duplicates' record counts no values")
            return
        }
        let sub = Tree(
            name: tree.name, kind: .duplicates, flags: order == .reversed ? LMDBLayout.reverseKey : 0,
            depth: Int(record.depth), fixedKeySize: width, outerKey: key)
        walkTree(record, sub, slot: slot + 1)
        tree.entries += record.entries
    }
}
