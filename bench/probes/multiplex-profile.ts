// Probe: where a multiplexed message's time goes. 100 subscriptions, each consumed by its own fiber
// with Stream.runForEach (bench/multiplex.ts's jetsocket), against the blaster's /mux; run under
// node --cpu-prof. argv: port rounds messages [jet: jetsocket only, for its profile]
import { multiplexRun } from "../multiplex.js"

const [port = "0", roundsStr = "5", nStr = "100000", only] = process.argv.slice(2)
for (let i = 0; i < Number(roundsStr); i++) {
  const jet = await multiplexRun("jetsocket", Number(port), Number(nStr))
  const raw = only === "jet" ? Number.NaN : await multiplexRun("raw ws", Number(port), Number(nStr))
  console.log(`jetsocket ${jet.toFixed(0)} msgs/s, raw ws ${raw.toFixed(0)} msgs/s (${(jet / raw).toFixed(2)}×)`)
}
process.exit(0)
