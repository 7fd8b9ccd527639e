// A feed client in a fresh process (run bundled by bench/main.ts, one child per measurement):
// `node fresh.mjs <contender> <port> <n> <consumer>` connects once, takes n messages of 120 B JSON
// from the blaster's full-speed feed, and prints {"coldMs", "warmMs"} as its last line: the first
// connection in a process nothing has warmed (what a user who starts a client and measures it
// sees), then a second one in the same process (the JIT has compiled the receive path by then).
// consumer: "runDrain" (the contender's `feed`) or a FeedConsumer ("runForEach", "runForEachChunk").
// An optional 5th argument names contenders (comma-separated) whose feed runs first, unmeasured, in
// the same process: what sharing a process with them (as in the in-process rows) does to this one.
import { contenders, type FeedConsumer } from "./contenders.js"

const [name, portS, nS, consumer, before] = process.argv.slice(2)
const contender = contenders.find((c) => c.name === name)
if (contender === undefined) throw new Error(`fresh: no contender ${name}`)
const n = Number(nS)
const url = `ws://127.0.0.1:${portS}/feed?n=${n}&size=120`
const run = (): Promise<number> => {
  if (consumer === "runDrain") return contender.feed!(url, n)
  return contender.feedEach!(url, n, consumer as FeedConsumer)
}
for (const other of before === undefined ? [] : before.split(",")) {
  const c = contenders.find((c) => c.name === other)
  if (c === undefined) throw new Error(`fresh: no contender ${other}`)
  if (c.feedEach) await c.feedEach(url, n, "runForEach")
  else await c.feed!(url, n)
}
const coldMs = await run()
const warmMs = await run()
console.log(JSON.stringify({ coldMs, warmMs }))
process.exit(0)
