/**
 * RFC 6455 frame encoding/decoding helpers for the test kit (RawServer).
 *
 * @internal
 */
import * as zlib from "node:zlib"

/** @internal */
export interface Frame {
  readonly fin: boolean
  readonly rsv1: boolean
  readonly rsv2: boolean
  readonly rsv3: boolean
  readonly opcode: number
  readonly payload: Uint8Array
}

/** @internal */
export interface EncodeOptions {
  readonly fin?: boolean | undefined
  readonly rsv1?: boolean | undefined
  readonly rsv2?: boolean | undefined
  readonly rsv3?: boolean | undefined
  readonly mask?: Uint8Array | undefined
  /** Force a length encoding (7, 16 or 64 bit) even if a shorter one fits. */
  readonly lengthBits?: 7 | 16 | 64 | undefined
}

/** Encodes one frame (server frames are unmasked unless `mask` is given). @internal */
export const encode = (opcode: number, payload: Uint8Array | string, options: EncodeOptions = {}): Buffer => {
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload)
  const fin = options.fin ?? true
  let b0 = opcode & 0x0f
  if (fin) b0 |= 0x80
  if (options.rsv1) b0 |= 0x40
  if (options.rsv2) b0 |= 0x20
  if (options.rsv3) b0 |= 0x10
  const maskBit = options.mask ? 0x80 : 0
  const bits = options.lengthBits ?? (data.length < 126 ? 7 : data.length < 65536 ? 16 : 64)
  let header: Buffer
  if (bits === 7) {
    header = Buffer.from([b0, maskBit | data.length])
  } else if (bits === 16) {
    header = Buffer.alloc(4)
    header[0] = b0
    header[1] = maskBit | 126
    header.writeUInt16BE(data.length, 2)
  } else {
    header = Buffer.alloc(10)
    header[0] = b0
    header[1] = maskBit | 127
    header.writeBigUInt64BE(BigInt(data.length), 2)
  }
  if (!options.mask) return Buffer.concat([header, data])
  const masked = Buffer.alloc(data.length)
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ options.mask[i % 4]!
  return Buffer.concat([header, Buffer.from(options.mask), masked])
}

/** A close payload: 2-byte code + UTF-8 reason. @internal */
export const closePayload = (code: number, reason: string | Uint8Array = ""): Buffer => {
  const head = Buffer.alloc(2)
  head.writeUInt16BE(code, 0)
  return Buffer.concat([head, typeof reason === "string" ? Buffer.from(reason, "utf8") : Buffer.from(reason)])
}

/** permessage-deflate payload: deflateRaw with the trailing 00 00 ff ff removed (RFC 7692 §7.2.1). @internal */
export const deflate = (payload: Uint8Array | string): Buffer => {
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload)
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
  return out.subarray(0, out.length - 4)
}

/** Inverse of `deflate`. @internal */
export const inflate = (payload: Uint8Array): Buffer =>
  zlib.inflateRawSync(Buffer.concat([Buffer.from(payload), Buffer.from([0x00, 0x00, 0xff, 0xff])]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH
  })

/** Incremental decoder for (client, masked) frames. @internal */
export class Decoder {
  private buffer: Buffer = Buffer.alloc(0)
  push(chunk: Uint8Array): Array<Frame> {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk])
    const frames: Array<Frame> = []
    for (;;) {
      const b = this.buffer
      if (b.length < 2) break
      let length = b[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (b.length < 4) break
        length = b.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (b.length < 10) break
        length = Number(b.readBigUInt64BE(2))
        offset = 10
      }
      const masked = (b[1]! & 0x80) !== 0
      const maskAt = offset
      if (masked) offset += 4
      if (b.length < offset + length) break
      const payload = Buffer.from(b.subarray(offset, offset + length))
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ b[maskAt + (i % 4)]!
      frames.push({
        fin: (b[0]! & 0x80) !== 0,
        rsv1: (b[0]! & 0x40) !== 0,
        rsv2: (b[0]! & 0x20) !== 0,
        rsv3: (b[0]! & 0x10) !== 0,
        opcode: b[0]! & 0x0f,
        payload
      })
      this.buffer = b.subarray(offset + length)
    }
    return frames
  }
}
