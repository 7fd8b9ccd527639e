/**
 * Client-relevant Autobahn|Testsuite cases (RFC 6455 / RFC 7692), as data:
 * the bytes a server writes after the handshake, and the expected outcome.
 * Sizes in groups 9/10 are reduced. Case ids follow Autobahn's numbering.
 */
import { closePayload, deflate, frame } from "../src/RawServer.js"

export type Message = { readonly text: string } | { readonly binary: Uint8Array }

export type Outcome =
  /** The client receives exactly these messages (and echoes them back). */
  | { readonly kind: "echo"; readonly messages: ReadonlyArray<Message>; readonly pongs?: ReadonlyArray<Uint8Array> }
  /** The client fails with InvalidFrameError { closeCode }. */
  | { readonly kind: "error"; readonly closeCode: number; readonly messages?: ReadonlyArray<Message> }
  /**
   * The server closes; the client answers with a close frame carrying `echoCode` and ends with
   * ConnectionClosedError { code: echoCode, reason (default "") }.
   */
  | { readonly kind: "close"; readonly echoCode: number; readonly reason?: string; readonly messages?: ReadonlyArray<Message> }

export interface Case {
  readonly id: string
  readonly description: string
  readonly bytes: Buffer
  readonly outcome: Outcome
  readonly deflate?: boolean
  readonly maxMessageSize?: number
}

const T = 0x1
const B = 0x2
const C = 0x0
const CLOSE = 0x8
const PING = 0x9
const PONG = 0xa

const text = (s: string): Message => ({ text: s })
const bin = (b: Uint8Array): Message => ({ binary: b })
const cat = (...parts: Array<Buffer>) => Buffer.concat(parts)
const bytes = (n: number, seed = 0) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}
const str = (n: number) => "*".repeat(n)
const closeFrame = (code: number, reason = "") => frame(CLOSE, closePayload(code, reason))

const cases: Array<Case> = []
const add = (c: Case) => cases.push(c)

// 1 — framing lengths (text and binary)
for (const [i, n] of [0, 125, 126, 127, 128, 65535, 65536].entries()) {
  add({ id: `1.1.${i + 1}`, description: `text message, ${n} bytes`, bytes: frame(T, str(n)), outcome: { kind: "echo", messages: [text(str(n))] } })
  add({ id: `1.2.${i + 1}`, description: `binary message, ${n} bytes`, bytes: frame(B, bytes(n)), outcome: { kind: "echo", messages: [bin(bytes(n))] } })
}
add({ id: "1.1.8", description: "text 65536 in one frame, non-minimal 64-bit length of 200", bytes: frame(T, str(200), { lengthBits: 64 }), outcome: { kind: "echo", messages: [text(str(200))] } })

// 2 — pings and pongs
add({ id: "2.1", description: "ping, no payload", bytes: frame(PING, ""), outcome: { kind: "echo", messages: [], pongs: [Buffer.alloc(0)] } })
add({ id: "2.2", description: "ping, small text payload", bytes: frame(PING, "Hello, world!"), outcome: { kind: "echo", messages: [], pongs: [Buffer.from("Hello, world!")] } })
add({ id: "2.3", description: "ping, small binary payload", bytes: frame(PING, Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])), outcome: { kind: "echo", messages: [], pongs: [Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])] } })
add({ id: "2.4", description: "ping, 125-byte payload", bytes: frame(PING, bytes(125)), outcome: { kind: "echo", messages: [], pongs: [bytes(125)] } })
add({ id: "2.5", description: "ping, 126-byte payload (too long for control)", bytes: frame(PING, bytes(126)), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "2.6", description: "ping, 125 bytes, then a text message", bytes: cat(frame(PING, bytes(125, 7)), frame(T, "after")), outcome: { kind: "echo", messages: [text("after")], pongs: [bytes(125, 7)] } })
add({ id: "2.7", description: "unsolicited pong, no payload", bytes: cat(frame(PONG, ""), frame(T, "x")), outcome: { kind: "echo", messages: [text("x")] } })
add({ id: "2.8", description: "unsolicited pong, payload", bytes: cat(frame(PONG, "unsolicited pong payload"), frame(T, "y")), outcome: { kind: "echo", messages: [text("y")] } })
add({ id: "2.9", description: "unsolicited pong then ping", bytes: cat(frame(PONG, "u"), frame(PING, "p")), outcome: { kind: "echo", messages: [], pongs: [Buffer.from("p")] } })
add({ id: "2.10", description: "10 pings in a row", bytes: cat(...Array.from({ length: 10 }, (_, i) => frame(PING, `ping-${i}`))), outcome: { kind: "echo", messages: [], pongs: Array.from({ length: 10 }, (_, i) => Buffer.from(`ping-${i}`)) } })

// 3 — reserved bits (no extension negotiated)
add({ id: "3.1", description: "RSV2 set on text", bytes: frame(T, "Hello", { rsv2: true }), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "3.2", description: "text, then RSV3 set on text", bytes: cat(frame(T, "ok"), frame(T, "Hello", { rsv3: true })), outcome: { kind: "error", closeCode: 1002, messages: [text("ok")] } })
add({ id: "3.3", description: "RSV1 set without permessage-deflate", bytes: frame(T, "Hello", { rsv1: true }), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "3.4", description: "RSV1+RSV2+RSV3 on binary", bytes: frame(B, bytes(4), { rsv1: true, rsv2: true, rsv3: true }), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "3.5", description: "RSV2 set on ping", bytes: frame(PING, "p", { rsv2: true }), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "3.6", description: "RSV3 set on close", bytes: frame(CLOSE, closePayload(1000), { rsv3: true }), outcome: { kind: "error", closeCode: 1002 } })

// 4 — reserved opcodes
for (const op of [3, 4, 5, 6, 7]) {
  add({ id: `4.1.${op - 2}`, description: `reserved data opcode ${op}`, bytes: frame(op, "x"), outcome: { kind: "error", closeCode: 1002 } })
}
for (const op of [0xb, 0xc, 0xd, 0xe, 0xf]) {
  add({ id: `4.2.${op - 0xa}`, description: `reserved control opcode ${op}`, bytes: cat(frame(T, "before"), frame(op, "")), outcome: { kind: "error", closeCode: 1002, messages: [text("before")] } })
}

// 5 — fragmentation
add({ id: "5.1", description: "ping fragmented into 2 frames", bytes: cat(frame(PING, "frag", { fin: false }), frame(C, "ment")), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "5.2", description: "pong fragmented into 2 frames", bytes: cat(frame(PONG, "frag", { fin: false }), frame(C, "ment")), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "5.3", description: "text in 2 fragments", bytes: cat(frame(T, "frag", { fin: false }), frame(C, "ment")), outcome: { kind: "echo", messages: [text("fragment")] } })
add({ id: "5.6", description: "text in 2 fragments, ping in between", bytes: cat(frame(T, "frag", { fin: false }), frame(PING, "mid"), frame(C, "ment")), outcome: { kind: "echo", messages: [text("fragment")], pongs: [Buffer.from("mid")] } })
add({ id: "5.9", description: "continuation without a start", bytes: frame(C, "fragment"), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "5.10", description: "unfinished continuation without a start", bytes: cat(frame(C, "frag", { fin: false }), frame(C, "ment")), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "5.15", description: "text frame while a fragmented message is open", bytes: cat(frame(T, "frag", { fin: false }), frame(T, "ment")), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "5.19", description: "text in 5 fragments, 2 pings in between", bytes: cat(frame(T, "a", { fin: false }), frame(C, "b", { fin: false }), frame(PING, "1"), frame(C, "c", { fin: false }), frame(PING, "2"), frame(C, "d", { fin: false }), frame(C, "e")), outcome: { kind: "echo", messages: [text("abcde")], pongs: [Buffer.from("1"), Buffer.from("2")] } })
add({ id: "5.20", description: "binary in 1-byte fragments", bytes: cat(frame(B, bytes(1), { fin: false }), ...Array.from({ length: 9 }, (_, i) => frame(C, bytes(10).subarray(i + 1, i + 2), { fin: i === 8 }))), outcome: { kind: "echo", messages: [bin(bytes(10))] } })

// 6 — UTF-8
const hello = "κόσμε" // Greek "kosme"
const helloBytes = Buffer.from(hello, "utf8")
add({ id: "6.2.1", description: "valid UTF-8, one frame", bytes: frame(T, hello), outcome: { kind: "echo", messages: [text(hello)] } })
add({ id: "6.2.2", description: "valid UTF-8 fragmented on code point boundary", bytes: cat(frame(T, helloBytes.subarray(0, 2), { fin: false }), frame(C, helloBytes.subarray(2))), outcome: { kind: "echo", messages: [text(hello)] } })
add({ id: "6.2.3", description: "valid UTF-8 fragmented into single octets (split code points)", bytes: cat(...Array.from(helloBytes, (b, i) => frame(i === 0 ? T : C, Buffer.from([b]), { fin: i === helloBytes.length - 1 }))), outcome: { kind: "echo", messages: [text(hello)] } })
const emoji = "\u{1F600}\u{10FFFF}\uFFFD\u0800\u007F"
const emojiBytes = Buffer.from(emoji, "utf8")
add({ id: "6.2.4", description: "4-byte code points split across 3 fragments", bytes: cat(frame(T, emojiBytes.subarray(0, 1), { fin: false }), frame(C, emojiBytes.subarray(1, 6), { fin: false }), frame(C, emojiBytes.subarray(6))), outcome: { kind: "echo", messages: [text(emoji)] } })
add({ id: "6.3.1", description: "invalid UTF-8 (single frame)", bytes: frame(T, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])), outcome: { kind: "error", closeCode: 1007 } })
add({ id: "6.3.2", description: "invalid UTF-8 (fragmented)", bytes: cat(frame(T, Buffer.from([0xce, 0xba, 0xe1]), { fin: false }), frame(C, Buffer.from([0xbd, 0xb9, 0xff]))), outcome: { kind: "error", closeCode: 1007 } })
for (const [i, seq] of [[0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc0]].entries()) {
  add({ id: `6.${8 + i}.1`, description: `invalid sequence ${Buffer.from(seq).toString("hex")}`, bytes: frame(T, Buffer.from(seq)), outcome: { kind: "error", closeCode: 1007 } })
}
add({ id: "6.4.1", description: "truncated code point at message end", bytes: frame(T, Buffer.from([0xce, 0xba, 0xe1, 0xbd])), outcome: { kind: "error", closeCode: 1007 } })

// 7 — close handling
add({ id: "7.1.1", description: "text then close 1000", bytes: cat(frame(T, "Hello World!"), closeFrame(1000)), outcome: { kind: "close", echoCode: 1000, messages: [text("Hello World!")] } })
add({ id: "7.1.3", description: "close then ping: ping ignored", bytes: cat(closeFrame(1000), frame(PING, "late")), outcome: { kind: "close", echoCode: 1000 } })
add({ id: "7.1.4", description: "close then text: text ignored", bytes: cat(closeFrame(1000), frame(T, "late")), outcome: { kind: "close", echoCode: 1000 } })
add({ id: "7.3.1", description: "close with empty payload", bytes: frame(CLOSE, ""), outcome: { kind: "close", echoCode: 1005 } })
add({ id: "7.3.2", description: "close with 1-byte payload", bytes: frame(CLOSE, Buffer.from([0x03])), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "7.3.3", description: "close 1000, no reason", bytes: closeFrame(1000), outcome: { kind: "close", echoCode: 1000 } })
add({ id: "7.3.4", description: "close 1000 with a reason", bytes: closeFrame(1000, "Hello World!"), outcome: { kind: "close", echoCode: 1000, reason: "Hello World!" } })
add({ id: "7.3.5", description: "close 1000 with a 123-byte reason", bytes: closeFrame(1000, str(123)), outcome: { kind: "close", echoCode: 1000, reason: str(123) } })
add({ id: "7.3.6", description: "close with a 124-byte reason (126-byte payload)", bytes: closeFrame(1000, str(124)), outcome: { kind: "error", closeCode: 1002 } })
add({ id: "7.5.1", description: "close reason with invalid UTF-8", bytes: frame(CLOSE, closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80]))), outcome: { kind: "error", closeCode: 1007 } })
for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
  add({ id: `7.7.${code}`, description: `valid close code ${code}`, bytes: closeFrame(code), outcome: { kind: "close", echoCode: code } })
}
for (const code of [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535]) {
  add({ id: `7.9.${code}`, description: `invalid close code ${code}`, bytes: closeFrame(code), outcome: { kind: "error", closeCode: 1002 } })
}

// 9 — limits and large messages (reduced sizes)
add({ id: "9.1.1", description: "text 64 KiB", bytes: frame(T, str(65536)), outcome: { kind: "echo", messages: [text(str(65536))] } })
add({ id: "9.1.3", description: "text 1 MiB", bytes: frame(T, str(1 << 20)), outcome: { kind: "echo", messages: [text(str(1 << 20))] } })
add({ id: "9.2.3", description: "binary 1 MiB", bytes: frame(B, bytes(1 << 20)), outcome: { kind: "echo", messages: [bin(bytes(1 << 20))] } })
add({ id: "9.3.1", description: "text 256 KiB in 4 KiB fragments", bytes: cat(...Array.from({ length: 64 }, (_, i) => frame(i === 0 ? T : C, str(4096), { fin: i === 63 }))), outcome: { kind: "echo", messages: [text(str(1 << 18))] } })
add({ id: "9.4.1", description: "binary 256 KiB in 1 KiB fragments", bytes: cat(...Array.from({ length: 256 }, (_, i) => frame(i === 0 ? B : C, bytes(1 << 18).subarray(i * 1024, (i + 1) * 1024), { fin: i === 255 }))), outcome: { kind: "echo", messages: [bin(bytes(1 << 18))] } })
add({ id: "9.7.1", description: "100 small text messages", bytes: cat(...Array.from({ length: 100 }, (_, i) => frame(T, `m${i}`))), outcome: { kind: "echo", messages: Array.from({ length: 100 }, (_, i) => text(`m${i}`)) } })
add({ id: "9.L.1", description: "message at maxMessageSize is accepted", bytes: frame(T, str(4096)), maxMessageSize: 4096, outcome: { kind: "echo", messages: [text(str(4096))] } })
add({ id: "9.L.2", description: "message one byte over maxMessageSize", bytes: frame(T, str(4097)), maxMessageSize: 4096, outcome: { kind: "error", closeCode: 1009 } })
add({ id: "9.L.3", description: "fragmented message over maxMessageSize", bytes: cat(frame(T, str(3000), { fin: false }), frame(C, str(3000))), maxMessageSize: 4096, outcome: { kind: "error", closeCode: 1009 } })

// 10 — auto-fragmentation / interleaving
add({ id: "10.1.1", description: "text 64 KiB in 1300-byte fragments", bytes: cat(...(() => { const s = Buffer.from(str(65536)); const out: Array<Buffer> = []; for (let o = 0; o < s.length; o += 1300) out.push(frame(o === 0 ? T : C, s.subarray(o, o + 1300), { fin: o + 1300 >= s.length })); return out })()), outcome: { kind: "echo", messages: [text(str(65536))] } })

// 12/13 — permessage-deflate
for (const [i, n] of [0, 16, 64, 256, 1024, 4096, 65536].entries()) {
  const payload = Array.from({ length: n }, (_, k) => String.fromCharCode(97 + ((k * 7) % 26))).join("")
  add({ id: `12.1.${i + 1}`, description: `compressed text ${n} bytes`, deflate: true, bytes: frame(T, deflate(payload), { rsv1: true }), outcome: { kind: "echo", messages: [text(payload)] } })
}
add({ id: "12.2.1", description: "compressed binary 4 KiB", deflate: true, bytes: frame(B, deflate(bytes(4096)), { rsv1: true }), outcome: { kind: "echo", messages: [bin(bytes(4096))] } })
{
  const payload = str(8192)
  const z = deflate(payload)
  const h = Math.floor(z.length / 2)
  add({ id: "12.3.1", description: "compressed text, fragmented", deflate: true, bytes: cat(frame(T, z.subarray(0, h), { rsv1: true, fin: false }), frame(C, z.subarray(h))), outcome: { kind: "echo", messages: [text(payload)] } })
  add({ id: "12.3.2", description: "compressed + uncompressed messages interleaved", deflate: true, bytes: cat(frame(T, z, { rsv1: true }), frame(T, "plain"), frame(T, deflate("again"), { rsv1: true })), outcome: { kind: "echo", messages: [text(payload), text("plain"), text("again")] } })
  add({ id: "13.1.1", description: "RSV1 on a continuation frame", deflate: true, bytes: cat(frame(T, z.subarray(0, h), { rsv1: true, fin: false }), frame(C, z.subarray(h), { rsv1: true })), outcome: { kind: "error", closeCode: 1002 } })
  add({ id: "13.1.2", description: "RSV1 on a control frame", deflate: true, bytes: frame(PING, "p", { rsv1: true }), outcome: { kind: "error", closeCode: 1002 } })
  add({ id: "13.2.1", description: "compressed text inflating to invalid UTF-8", deflate: true, bytes: frame(T, deflate(Buffer.from([0xff, 0xfe, 0xfd])), { rsv1: true }), outcome: { kind: "error", closeCode: 1007 } })
  add({ id: "13.3.1", description: "compressed message inflating past maxMessageSize", deflate: true, maxMessageSize: 4096, bytes: frame(T, deflate(str(100_000)), { rsv1: true }), outcome: { kind: "error", closeCode: 1009 } })
}

export const conformanceCases: ReadonlyArray<Case> = cases
