/**
 * The TLS options docs/platforms.md lists beside `ca` — `servername` (SNI and the name the
 * certificate is checked against) and a client certificate (`cert` + `key`) — against a real
 * https + ws server on 127.0.0.1 with certificates made by openssl for the test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type * as tls from "node:tls"
import { WebSocketServer } from "ws"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"

/** Self-signed EC certificates (fast to make): `name` is the CN, `san` the subjectAltName. */
const certificates = (specs: ReadonlyArray<{ readonly name: string; readonly san: string }>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jetsocket-tls-options-"))
      const made = specs.map(({ name, san }, i) => {
        const key = path.join(dir, `k${i}.pem`)
        const cert = path.join(dir, `c${i}.pem`)
        execFileSync("openssl", [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${name}`, "-addext", `subjectAltName=${san}`
        ], { stdio: "pipe" })
        return { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") }
      })
      return { dir, made }
    }),
    ({ dir }) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ made }) => made))

/** An https + ws echo server on 127.0.0.1; records the SNI name and the client certificate's CN of each TLS session. */
const wss = (options: https.ServerOptions) =>
  Effect.acquireRelease(
    Effect.async<{ server: https.Server; sockets: WebSocketServer; url: string; sessions: Array<{ servername: string | false; client?: string }> }>((resume) => {
      const sessions: Array<{ servername: string | false; client?: string }> = []
      const server = https.createServer(options)
      server.on("secureConnection", (socket: tls.TLSSocket) => {
        const peer = socket.getPeerCertificate()
        sessions.push({ servername: socket.servername ?? false, ...(peer?.subject?.CN ? { client: String(peer.subject.CN) } : {}) })
      })
      const sockets = new WebSocketServer({ server })
      sockets.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })))
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, sockets, url: `wss://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions })))
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const client of sockets.clients) client.terminate()
        sockets.close()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

describe("TLS options: servername, cert and key", () => {
  live("tls.servername: sent as SNI and checked against the certificate instead of the URL's host", () =>
    Effect.gen(function*() {
      // the certificate names only jetsocket.test, not 127.0.0.1
      const [server] = yield* certificates([{ name: "jetsocket.test", san: "DNS:jetsocket.test" }])
      const peer = yield* wss({ key: server!.key, cert: server!.cert })
      const ws = yield* JetSocket.connect(peer.url, { heartbeat: false, reconnect: false, tls: { ca: server!.cert, servername: "jetsocket.test" } })
      yield* ws.send({ sni: true })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ sni: true })
      expect(peer.sessions.map((s) => s.servername)).toEqual(["jetsocket.test"])
      // without it the name check fails: a refusal, and no WebSocket session
      const refused = yield* Effect.flip(JetSocket.connect(peer.url, { heartbeat: false, reconnect: false, tls: { ca: server!.cert } }))
      // a TLS verification failure: fatal (docs/reconnection.md)
      expect(refused).toMatchObject({ _tag: "ConnectionRefusedError", fatal: true })
      expect(refused.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID")
      expect(peer.sessions).toHaveLength(1)
    }))

  live("tls.cert + tls.key: a client certificate a server that requires one accepts", () =>
    Effect.gen(function*() {
      const [server, client] = yield* certificates([
        { name: "localhost", san: "IP:127.0.0.1" },
        { name: "jetsocket-client", san: "DNS:jetsocket-client" }
      ])
      const peer = yield* wss({ key: server!.key, cert: server!.cert, requestCert: true, rejectUnauthorized: true, ca: client!.cert })
      const ws = yield* JetSocket.connect(peer.url, {
        heartbeat: false,
        reconnect: false,
        tls: { ca: server!.cert, cert: client!.cert, key: client!.key }
      })
      yield* ws.send({ mutual: true })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ mutual: true })
      expect(peer.sessions).toEqual([{ servername: false, client: "jetsocket-client" }])
      // without the client certificate the server ends the handshake: no session
      const refused = yield* Effect.flip(JetSocket.connect(peer.url, { heartbeat: false, reconnect: false, tls: { ca: server!.cert } }))
      expect(refused).toMatchObject({ _tag: "ConnectionRefusedError" })
      expect(refused.message).toContain("CERTIFICATE_REQUIRED")
      expect(peer.sessions).toHaveLength(1)
    }))
})
