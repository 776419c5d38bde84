import NIOCore

/// One request line, or the fact that a line was longer than the limit (its bytes were dropped).
enum RequestLine {
    case line([UInt8])
    /// The bytes after the last newline at end of input: a last request without its newline when the client
    /// half-closed, a fragment when it vanished (the handler tells the two apart).
    case unterminated([UInt8])
    case oversize(Int)
}

/// Splits the byte stream at `\n`. A line longer than `maxLength` is not buffered: its bytes are counted and
/// dropped up to its newline, and it is reported as `.oversize`, so one bad line fails alone and the connection
/// goes on. Bytes after the last newline at end of stream are handed on as `.unterminated`.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = RequestLine
    let maxLength: Int
    /// Bytes of an oversize line dropped so far; nil when not inside one.
    private var dropping: Int?

    init(maxLength: Int) {
        self.maxLength = maxLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            if let dropped = dropping {
                buffer.moveReaderIndex(forwardBy: length + 1)
                dropping = nil
                context.fireChannelRead(wrapInboundOut(.oversize(dropped + length)))
            } else if length > maxLength {
                buffer.moveReaderIndex(forwardBy: length + 1)
                context.fireChannelRead(wrapInboundOut(.oversize(length)))
            } else {
                let bytes = buffer.readBytes(length: length) ?? []
                buffer.moveReaderIndex(forwardBy: 1)
                context.fireChannelRead(wrapInboundOut(.line(bytes)))
            }
            return .continue
        }
        if dropping != nil || view.count > maxLength {
            dropping = (dropping ?? 0) + view.count
            buffer.moveReaderIndex(forwardBy: view.count)
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if let dropped = dropping {
            dropping = nil
            context.fireChannelRead(wrapInboundOut(.oversize(dropped + buffer.readableBytes)))
        } else if buffer.readableBytes > 0 {
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            if !bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) {
                context.fireChannelRead(wrapInboundOut(.unterminated(bytes)))
            }
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}
