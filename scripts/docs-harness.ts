/**
 * What `npm run check-docs` puts in place of a docs program's top-level
 * `Effect.runPromise(…)` / `Effect.runFork(…)`: runs the program, prints its
 * failure (the whole `Cause`) and sets the exit code, so a program that fails
 * fails the docs check. With `JETSOCKET_DOCS_RUN_FOR=<seconds>` (a block's
 * `for=N`), a program that is still running after N seconds (a feed read
 * forever, a deliberate long wait) is interrupted and counts as passed.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

export const run = <A, E>(program: Effect.Effect<A, E>): void => {
  const seconds = Number(process.env.JETSOCKET_DOCS_RUN_FOR ?? "0")
  const bounded = seconds > 0
    ? Effect.raceFirst(program.pipe(Effect.asVoid), Effect.sleep(Duration.seconds(seconds)))
    : program
  void Effect.runPromiseExit(bounded).then((exit) => {
    if (Exit.isFailure(exit)) {
      process.stderr.write(`docs program failed:\n${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(0)
  })
}
