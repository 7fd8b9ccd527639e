import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { WebSocketServer } from "ws"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { statesUntilEnd } from "./fixtures/helpers.js"

const opensslPath = (): string => execFileSync("which", ["openssl"], { encoding: "utf8" }).trim()

/** A self-signed cert for 127.0.0.1, generated in a tmp dir (removed with the scope). */
const selfSigned = Effect.acquireRelease(
  Effect.sync(() => {
    const openssl = opensslPath()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jetsocket-tls-"))
    execFileSync(openssl, [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes",
      "-keyout", path.join(dir, "k.pem"), "-out", path.join(dir, "c.pem"),
      "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "pipe" })
    return {
      dir,
      key: fs.readFileSync(path.join(dir, "k.pem"), "utf8"),
      cert: fs.readFileSync(path.join(dir, "c.pem"), "utf8")
    }
  }),
  ({ dir }) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** https + ws echo server on 127.0.0.1:0 counting TLS handshakes (good or failed) and upgrades. */
const wssServer = (key: string, cert: string) =>
  Effect.acquireRelease(
    Effect.async<{ server: https.Server; wss: WebSocketServer; url: string; counts: { tls: number; upgrades: number } }>(
      (resume) => {
        const counts = { tls: 0, upgrades: 0 }
        const server = https.createServer({ key, cert })
        server.on("secureConnection", () => counts.tls++)
        server.on("tlsClientError", () => counts.tls++)
        server.on("upgrade", () => counts.upgrades++)
        const wss = new WebSocketServer({ server })
        wss.on("connection", (socket) => socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary })))
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as AddressInfo).port
          resume(Effect.succeed({ server, wss, url: `wss://127.0.0.1:${port}`, counts }))
        })
      }
    ),
    ({ server, wss }) =>
      Effect.async<void>((resume) => {
        for (const client of wss.clients) client.terminate()
        wss.close()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe("TLS (wss://)", () => {
  it.scopedLive("an untrusted self-signed cert is a fatal refusal after exactly one attempt", () =>
    Effect.gen(function*() {
      const { cert, key } = yield* selfSigned
      const { counts, url } = yield* wssServer(key, cert)
      const exit = yield* Effect.scoped(
        JetSocket.connect(url, { reconnect: { base: "10 millis" }, heartbeat: false })
      ).pipe(Effect.timeout("15 seconds"), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        expect(error?._tag).toBe("ConnectionRefusedError")
        if (error?._tag === "ConnectionRefusedError") {
          expect(error.fatal).toBe(true)
          expect(error.message).toMatch(/TLS/)
        }
      }
      // The server saw the one failed handshake.
      yield* TestServer.waitUntil(() => counts.tls >= 1, "5 seconds")
      expect(counts.tls).toBe(1)
      expect(counts.upgrades).toBe(0)
      // No retry follows: a client made (not connected) with the same options ends Failed, a
      // terminal state (its stateChanges ends), after that one attempt.
      const ws = yield* JetSocket.make(url, { reconnect: { base: "10 millis" }, heartbeat: false })
      expect(yield* Effect.flip(ws.ready)).toMatchObject({ _tag: "ConnectionRefusedError", fatal: true })
      expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
      yield* TestServer.waitUntil(() => counts.tls >= 2, "5 seconds")
      expect(counts.tls).toBe(2)
      expect(counts.upgrades).toBe(0)
    }).pipe(Effect.provide(NodeTransport.layer)), 30_000)

  it.scopedLive("with tls.ca the same server is trusted and echoes", () =>
    Effect.gen(function*() {
      const { cert, key } = yield* selfSigned
      const { counts, url } = yield* wssServer(key, cert)
      const ws = yield* JetSocket.connect(url, {
        reconnect: { base: "10 millis" },
        heartbeat: false,
        tls: { ca: cert }
      })
      expect(yield* ws.state).toBe("Connected")
      yield* ws.send({ hello: "tls" })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ hello: "tls" })
      expect(counts.upgrades).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)), 30_000)
})
