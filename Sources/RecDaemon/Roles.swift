import Foundation
import RecDB
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a connected peer may do. Each role includes the ones below it.
enum Role: Int, Comparable, CustomStringConvertible {
    /// Nothing but `STATUS`.
    case none
    /// `RECOMMEND`, `ASK`, `SHOW`, `STATUS`.
    case read
    /// And `EVENT`, `UPSERT`, `DELETE`.
    case write
    /// And `REFRESH`, `EVALUATE`.
    case admin

    static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }

    init?(name: String) {
        switch name.lowercased() {
        case "none": self = .none
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .none: "none"
        case .read: "read"
        case .write: "write"
        case .admin: "admin"
        }
    }

    /// The role a statement of `kind` needs.
    static func needed(for kind: QueryKind) -> Role {
        switch kind {
        case .read: .read
        case .write: .write
        case .admin: .admin
        }
    }
}

/// Linux's `struct ucred` (hidden behind `_GNU_SOURCE` in the C headers): what `SO_PEERCRED` returns.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One `--grant ROLE=WHO` rule: `WHO` is `uid:N`, `gid:N`, `user:NAME`, `group:NAME` or `*` (anyone who can
/// connect).
struct Grant: Equatable {
    enum Who: Equatable {
        case uid(UInt32)
        case gid(UInt32)
        case anyone
    }

    var role: Role
    var who: Who

    /// Parses `admin=uid:1001`, `write=group:shop`, `read=*`; names are looked up in the system's user database.
    init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let role = Role(name: parts[0]) else {
            throw RecDBError(.invalidArgument, "a grant reads ROLE=WHO with ROLE none, read, write or admin (got '\(text)')")
        }
        self.role = role
        let who = parts[1]
        if who == "*" {
            self.who = .anyone
            return
        }
        let pair = who.split(separator: ":", maxSplits: 1).map(String.init)
        guard pair.count == 2 else {
            throw RecDBError(.invalidArgument, "WHO is uid:N, gid:N, user:NAME, group:NAME or * (got '\(who)')")
        }
        switch pair[0] {
        case "uid":
            guard let uid = UInt32(pair[1]) else { throw RecDBError(.invalidArgument, "'\(pair[1])' is not a uid") }
            self.who = .uid(uid)
        case "gid":
            guard let gid = UInt32(pair[1]) else { throw RecDBError(.invalidArgument, "'\(pair[1])' is not a gid") }
            self.who = .gid(gid)
        case "user":
            guard let entry = getpwnam(pair[1]) else { throw RecDBError(.notFound, "no user named '\(pair[1])'") }
            self.who = .uid(entry.pointee.pw_uid)
        case "group":
            guard let entry = getgrnam(pair[1]) else { throw RecDBError(.notFound, "no group named '\(pair[1])'") }
            self.who = .gid(entry.pointee.gr_gid)
        default:
            throw RecDBError(.invalidArgument, "WHO is uid:N, gid:N, user:NAME, group:NAME or * (got '\(who)')")
        }
    }

    init(role: Role, who: Who) {
        self.role = role
        self.who = who
    }
}

/// Who may do what, decided from a peer's credentials (`SO_PEERCRED`): root, the server's own user and the owner of
/// the database files are admins; `--grant` rules give others roles (the highest matching one counts, groups
/// including supplementary ones); everyone else gets the default role (`read`).
struct RoleTable {
    var grants: [Grant] = []
    var defaultRole: Role = .read
    /// Users who are always admins: the server's own and the database owner's (root always is).
    var admins: Set<UInt32> = []

    /// The role of a peer.
    func role(of peer: PeerCredentials?) -> Role {
        guard let peer else { return defaultRole }
        if peer.uid == 0 || admins.contains(peer.uid) { return .admin }
        var role = defaultRole
        var groups: Set<UInt32>?
        for grant in grants where grant.role > role {
            switch grant.who {
            case .anyone: role = grant.role
            case .uid(let uid) where uid == peer.uid: role = grant.role
            case .gid(let gid):
                if groups == nil { groups = Self.groups(of: peer) }
                if groups!.contains(gid) { role = grant.role }
            default: break
            }
        }
        return role
    }

    /// Guards the user database calls (`getpwuid` is not thread-safe).
    private static let userDatabase = Mutex(())

    /// The peer's primary group and the supplementary groups of its user.
    static func groups(of peer: PeerCredentials) -> Set<UInt32> {
        userDatabase.withLock { _ in
            var result: Set<UInt32> = [peer.gid]
            guard let entry = getpwuid(peer.uid), let name = entry.pointee.pw_name else { return result }
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, peer.gid, &list, &count) == -1 {
                list = [gid_t](repeating: 0, count: Int(count))
                guard getgrouplist(name, peer.gid, &list, &count) != -1 else { return result }
            }
            for gid in list.prefix(Int(count)) { result.insert(gid) }
            return result
        }
    }
}
