/**
 * A simulated LLM streaming server on 127.0.0.1 (built on `TestServer`).
 *
 *   client → server  {"type":"prompt","id":"r1","prompt":"…"}
 *                    {"type":"resume","id":"r1","from":17}     // continue a stream at token 17
 *   server → client  {"type":"token","id":"r1","index":0,"text":"Web"}
 *                    {"type":"done","id":"r1","tokens":42}
 *
 * Tokens are streamed every `tokenMs` (default 15 ms). With `dropAfter`, the
 * server cuts the TCP connection once, after that many tokens of the first
 * answer, the way a flaky network or a load balancer would; a client that
 * resumes gets the rest.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { TestServer } from "../../src/testing.js"

const answers = [
  "WebSockets keep one TCP connection open in both directions, so a server can push tokens the moment the model " +
  "produces them. The hard part is not the happy path: it is what happens when the connection drops halfway " +
  "through an answer. A resilient client reconnects with backoff, proves liveness with heartbeats, and resumes " +
  "the stream where it stopped instead of starting over.",
  "Effect gives every failure a type. A refused upgrade, a timeout and a malformed frame are different tagged " +
  "errors, so the program decides what to retry, what to report and what to give up on, and the compiler checks " +
  "that nothing was forgotten."
]

/** Splits text into word-ish tokens, keeping the spaces, like a tokenizer would. */
export const tokenize = (text: string): ReadonlyArray<string> => text.match(/\s*\S+/g) ?? []

export const answerFor = (prompt: string): string => answers[prompt.length % answers.length]!

export interface LlmSimulator {
  readonly url: string
  readonly server: TestServer.TestServer
  readonly drops: () => number
}

export const make = (options: { readonly tokenMs?: number; readonly dropAfter?: number } = {}): Effect.Effect<
  LlmSimulator,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const prompts = new Map<string, ReadonlyArray<string>>()
    let drops = 0
    const timers = new Set<ReturnType<typeof setTimeout>>()

    const stream = (connection: TestServer.ServerConnection, id: string, from: number) => {
      const tokens = prompts.get(id)
      if (tokens === undefined) return connection.send({ type: "error", id, reason: "unknown request id" })
      let index = from
      const next = () => {
        if (!connection.isOpen()) return
        if (index >= tokens.length) return connection.send({ type: "done", id, tokens: tokens.length })
        if (options.dropAfter !== undefined && drops === 0 && index === options.dropAfter) {
          drops++
          return connection.drop()
        }
        connection.send({ type: "token", id, index, text: tokens[index] })
        index++
        const timer = setTimeout(() => (timers.delete(timer), next()), options.tokenMs ?? 15)
        timers.add(timer)
      }
      next()
    }

    const server = yield* TestServer.make({
      handler: (connection) =>
        connection.onMessage((data) => {
          let m: { type?: unknown; id?: unknown; prompt?: unknown; from?: unknown }
          try {
            m = JSON.parse(String(data))
          } catch {
            return connection.send({ type: "error", reason: "not JSON" })
          }
          if (m.type === "prompt" && typeof m.id === "string" && typeof m.prompt === "string") {
            prompts.set(m.id, tokenize(answerFor(m.prompt)))
            stream(connection, m.id, 0)
          } else if (m.type === "resume" && typeof m.id === "string" && typeof m.from === "number") {
            stream(connection, m.id, m.from)
          } else {
            connection.send({ type: "error", reason: "unknown request" })
          }
        })
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => timers.forEach(clearTimeout)))
    return { url: server.url, server, drops: () => drops }
  })
