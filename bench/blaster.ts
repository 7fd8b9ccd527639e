// Blaster: a WebSocket server on node:net that is never the bottleneck. Own handshake, pre-encoded
// unmasked server frames written in large slices (with backpressure), tiny masked-frame parser for echo.
// Paths: /feed?n=&size=[&delay=]   /large?n=&size=   /echo   /idle   /mux?n=&channels=
// Run as a child process: prints "PORT <n>" on stdout. Optional argv[2] = fixed port.
import { createHash } from "node:crypto"
import * as net from "node:net"

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

export const frame = (opcode: number, payload: Buffer): Buffer => {
  const len = payload.length
  let head: Buffer
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len])
  } else if (len < 65536) {
    head = Buffer.alloc(4)
    head[0] = 0x80 | opcode
    head[1] = 126
    head.writeUInt16BE(len, 2)
  } else {
    head = Buffer.alloc(10)
    head[0] = 0x80 | opcode
    head[1] = 127
    head.writeBigUInt64BE(BigInt(len), 2)
  }
  return Buffer.concat([head, payload])
}

export const feedMessage = (size: number): string => {
  const base = { type: "tick", symbol: "BTC-USD", price: 43210.12, qty: 0.0153, ts: 1732500000000, seq: 1, pad: "" }
  const s = JSON.stringify(base)
  return JSON.stringify({ ...base, pad: "x".repeat(Math.max(0, size - s.length)) })
}

const blast = (socket: net.Socket, slice: Buffer, repeats: number, tail: Buffer | undefined): void => {
  let left = repeats
  const pump = (): void => {
    while (left > 0) {
      left--
      if (!socket.write(slice)) {
        socket.once("drain", pump)
        return
      }
    }
    if (tail) socket.write(tail)
  }
  pump()
}

const handle = (socket: net.Socket, path: string, params: URLSearchParams): void => {
  socket.setNoDelay(true)
  if (path === "/mux") {
    // n messages round-robin over `channels` channels: {"channel":"c<i>","seq":..,"pad":..}
    const n = Number(params.get("n") ?? "1000")
    const channels = Number(params.get("channels") ?? "100")
    const frames = Array.from({ length: channels }, (_, i) =>
      frame(1, Buffer.from(JSON.stringify({ channel: `c${i}`, seq: 1, price: 43210.12, pad: "x".repeat(60) }))))
    const slice = Buffer.concat(Array.from({ length: 20 }, () => frames).flat())
    const per = 20 * channels
    // wait for the client's subscribe frames to arrive first (sent right after open)
    setTimeout(() => blast(socket, slice, Math.ceil(n / per), undefined), 200)
  }
  if (path === "/feed" || path === "/large") {
    const n = Number(params.get("n") ?? "1000")
    const size = Number(params.get("size") ?? (path === "/feed" ? "120" : "65536"))
    const one = path === "/feed" ? frame(1, Buffer.from(feedMessage(size))) : frame(2, Buffer.alloc(size, 7))
    const per = Math.max(1, Math.floor((256 * 1024) / one.length))
    const slice = Buffer.concat(Array.from({ length: per }, () => one))
    const full = Math.floor(n / per)
    const rest = n - full * per
    const tail = rest > 0 ? Buffer.concat(Array.from({ length: rest }, () => one)) : undefined
    // `delay` (ms): start later, so that many connections opened at once are all open before any is fed
    const delay = Number(params.get("delay") ?? "0")
    if (delay > 0) setTimeout(() => blast(socket, slice, full, tail), delay)
    else blast(socket, slice, full, tail)
  }
  // echo / idle / feed: parse client frames (echo replies, ping -> pong, close -> close)
  let buf: Buffer = Buffer.alloc(0)
  socket.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    while (buf.length >= 2) {
      const b0 = buf[0]!
      const b1 = buf[1]!
      let len = b1 & 0x7f
      let off = 2
      if (len === 126) {
        if (buf.length < 4) return
        len = buf.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (buf.length < 10) return
        len = Number(buf.readBigUInt64BE(2))
        off = 10
      }
      const masked = (b1 & 0x80) !== 0
      const total = off + (masked ? 4 : 0) + len
      if (buf.length < total) return
      const payload = Buffer.from(buf.subarray(off + (masked ? 4 : 0), total))
      if (masked) {
        const m = buf.subarray(off, off + 4)
        for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ m[i & 3]!
      }
      buf = buf.subarray(total)
      const opcode = b0 & 0x0f
      if (opcode === 8) {
        socket.write(frame(8, payload.subarray(0, 2)))
        socket.end()
        return
      } else if (opcode === 9) {
        socket.write(frame(10, payload))
      } else if (path === "/echo" && (opcode === 1 || opcode === 2)) {
        socket.write(frame(opcode, payload))
      }
    }
  })
}

export const start = (port = 0): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on("error", () => {})
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf("\r\n\r\n")
        if (end < 0) return
        socket.off("data", onData)
        const text = head.subarray(0, end).toString("latin1")
        const [, target = "/"] = text.split("\r\n")[0]!.split(" ")
        const key = /sec-websocket-key:\s*(\S+)/i.exec(text)?.[1] ?? ""
        const accept = createHash("sha1").update(key + GUID).digest("base64")
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
        )
        const url = new URL(target, "http://x")
        handle(socket, url.pathname, url.searchParams)
        const rest = head.subarray(end + 4)
        if (rest.length > 0) socket.emit("data", rest)
      }
      socket.on("data", onData)
    })
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve(server))
  })

if (/blaster\.(ts|mjs)$/.test(process.argv[1] ?? "")) {
  const server = await start(Number(process.argv[2] ?? "0"))
  const addr = server.address() as net.AddressInfo
  process.stdout.write(`PORT ${addr.port}\n`)
  process.on("SIGTERM", () => process.exit(0))
}
