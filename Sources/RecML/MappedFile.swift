#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RecKernels

/// A read-only memory map of a whole file. Model weights are read in place from the map, never copied wholesale.
public final class MappedFile: Sendable {
    /// The file's path, for error messages.
    public let path: String
    /// The mapped bytes; valid while this object lives.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start?.base, count: count) }
    /// The map: read-only (`PROT_READ`) and unmapped only in `deinit`, so it may be read from any thread.
    private let start: SharedPointer<UInt8>?
    private let count: Int

    /// Maps `path` read-only. Throws `missingModel` when the file does not exist, `io` when it cannot be mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let code: RecMLError.Code = errno == ENOENT ? .missingModel : .io
            throw RecMLError(code, "cannot open: \(String(cString: strerror(errno)))", location: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw RecMLError(.io, "cannot stat: \(String(cString: strerror(errno)))", location: path)
        }
        let size = Int(info.st_size)
        if size == 0 {
            (start, count) = (nil, 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw RecMLError(.io, "cannot map: \(String(cString: strerror(errno)))", location: path)
        }
        (start, count) = (SharedPointer(base.assumingMemoryBound(to: UInt8.self)), size)
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
