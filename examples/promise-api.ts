/**
 * The Promise API (`jetsocket/promise`) from plain async code: stream an LLM
 * answer token by token with `for await`, and handle a refused connection
 * with `instanceof`. Only the offline simulator uses Effect; the client code
 * below is Promise-only.
 *
 *   node --import tsx examples/promise-api.ts                 # against the offline simulator
 *   node --import tsx examples/promise-api.ts --url wss://…   # a real endpoint speaking the same protocol
 */
import { Effect, Exit, Scope } from "effect"
import { ConnectionRefusedError } from "../src/JetSocketError.js"
import { connect } from "../src/promise.js"
import { parseArgs } from "./lib/args.js"
import * as Llm from "./simulators/llm.js"

/** The simulator's protocol, both directions: prompt → token… → done. */
interface Message {
  readonly type: string
  readonly id?: string
  readonly prompt?: string
  readonly text?: string
}

const args = parseArgs(process.argv.slice(2))
const simulator = Effect.runSync(Scope.make())
const url = args.get("url") ?? (await Effect.runPromise(Scope.extend(Llm.make({ tokenMs: 5 }), simulator))).url

try {
  const ws = await connect<Message>(url, { heartbeat: "10 seconds", reconnect: { base: "100 millis" } })
  await ws.send({ type: "prompt", id: "p1", prompt: args.get("prompt") ?? "Why WebSockets?" })
  let answer = ""
  let tokens = 0
  for await (const message of ws) {
    if (message.type === "token" && message.text !== undefined) {
      answer += message.text
      tokens++
    }
    if (message.type === "done") break // leaving the loop closes the connection (1000)
  }
  console.log(answer.trim())
  console.log(`promise-api: ${tokens} tokens, state ${await ws.state()}`)

  // Failures reject with the same tagged error classes as the Effect API.
  await connect("ws://127.0.0.1:1/", { reconnect: false, heartbeat: false }).catch((error: unknown) => {
    if (!(error instanceof ConnectionRefusedError)) throw error
    console.log(`promise-api: refused as expected (${error._tag}, fatal=${error.fatal})`)
  })
} finally {
  await Effect.runPromise(Scope.close(simulator, Exit.void))
}
