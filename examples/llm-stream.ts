/**
 * LLM token streaming that survives a dropped connection.
 *
 * Sends prompts, prints tokens as they arrive, and when the connection drops
 * mid-answer (the simulator cuts it once, after 20 tokens), reconnects and
 * asks the server to resume the answer at the next token index, from an
 * `onConnect` hook, so the text continues where it stopped, with no token
 * repeated or lost. Uses `Presets.llmStream` (1 s → 10 s backoff, 5 attempts)
 * and a Schema for both directions of the protocol.
 *
 *   node --import tsx examples/llm-stream.ts
 *   node --import tsx examples/llm-stream.ts --prompt "Why Effect?" --no-faults
 *   node --import tsx examples/llm-stream.ts --url ws://localhost:8080   # a server speaking the protocol in simulators/llm.ts
 */
import { Effect, Schema, Stream } from "effect"
import { JetSocket, Presets } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { parseArgs } from "./lib/args.js"
import { runMain } from "./lib/main.js"
import * as Llm from "./simulators/llm.js"

const Token = Schema.Struct({ type: Schema.Literal("token"), id: Schema.String, index: Schema.Number, text: Schema.String })
const Done = Schema.Struct({ type: Schema.Literal("done"), id: Schema.String, tokens: Schema.Number })
const Failure = Schema.Struct({ type: Schema.Literal("error"), id: Schema.optional(Schema.String), reason: Schema.String })
const Prompt = Schema.Struct({ type: Schema.Literal("prompt"), id: Schema.String, prompt: Schema.String })
const Resume = Schema.Struct({ type: Schema.Literal("resume"), id: Schema.String, from: Schema.Number })
const Wire = Schema.Union(Token, Done, Failure, Prompt, Resume)
type Wire = typeof Wire.Type

class StreamFailed extends Schema.TaggedError<StreamFailed>()("StreamFailed", { reason: Schema.String }) {}

const args = parseArgs(process.argv.slice(2), ["no-faults"])
const prompts = args.all("prompt").length > 0
  ? args.all("prompt")
  : ["How do WebSockets stream LLM tokens?", "Why typed errors?"]
const timeout = args.seconds("duration", 60)

const program = Effect.gen(function*() {
  const url = args.get("url") ??
    (yield* Llm.make(args.has("no-faults") ? {} : { dropAfter: 20 })).url
  const ws = yield* JetSocket.connect(url, Presets.with(Presets.llmStream, { schema: Wire }))

  // The answer in flight, if any: where to resume after a reconnect.
  let inFlight: { id: string; next: number } | undefined
  yield* ws.onConnect((ctx) =>
    inFlight === undefined ? Effect.void : ctx.send({ type: "resume", id: inFlight.id, from: inFlight.next })
  )

  let total = 0
  for (const [i, prompt] of prompts.entries()) {
    const id = `r${i + 1}`
    const request = { id, next: 0 }
    inFlight = request
    console.log(`\n> ${prompt}`)
    yield* ws.send({ type: "prompt", id, prompt })
    const done = yield* ws.messages.pipe(
      Stream.filter((m): m is Exclude<Wire, typeof Prompt.Type | typeof Resume.Type> => "id" in m && m.id === id && m.type !== "prompt" && m.type !== "resume"),
      Stream.mapEffect((m) => (m.type === "error" ? Effect.fail(new StreamFailed({ reason: m.reason })) : Effect.succeed(m))),
      Stream.tap((m) =>
        Effect.sync(() => {
          if (m.type === "token" && m.index === request.next) {
            process.stdout.write(m.text)
            request.next++
          }
        })
      ),
      Stream.filter((m): m is typeof Done.Type => m.type === "done"),
      Stream.runHead
    )
    inFlight = undefined
    const tokens = done._tag === "Some" ? done.value.tokens : 0
    if (request.next !== tokens) return yield* new StreamFailed({ reason: `${id}: got ${request.next} of ${tokens} tokens` })
    total += tokens
    console.log(`\n[${id}: ${tokens} tokens, complete]`)
  }
  const stats = yield* ws.stats
  console.log(`\nllm-stream: ${prompts.length} answers, ${total} tokens, ${stats.reconnects} reconnect(s), nothing lost`)
}).pipe(
  Effect.timeoutFail({ duration: `${timeout} seconds`, onTimeout: () => new StreamFailed({ reason: `not done after ${timeout}s` }) }),
  Effect.scoped,
  Effect.provide(NodeTransport.layer)
)

runMain(program)
