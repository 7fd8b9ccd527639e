/**
 * What `npm run check-docs` puts in place of a docs program's top-level
 * `Effect.runPromise(…)` / `Effect.runFork(…)`.
 *
 * Under scripts/docs-runner.ts (every program of the docs in one process) it
 * starts the program and hands its `Exit` to the runner. Run on its own
 * (`node --import tsx .docs-check/run/<block>.ts`) it runs the program, prints
 * its failure (the whole `Cause`) and sets the exit code.
 *
 * With `for=N` (a block that reads a feed forever or waits on purpose), a
 * program still running after N seconds is interrupted and counts as passed.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"

/** What the runner reads after importing a program's module. */
export interface Started {
  readonly exit: Promise<Exit.Exit<unknown, unknown>>
  readonly interrupt: () => Promise<unknown>
}

interface Collector {
  forSeconds: number
  started: Started | undefined
}

/** Set by the runner; absent when a program runs on its own. */
export const collector = (): Collector | undefined =>
  (globalThis as { __jetsocketDocs?: Collector }).__jetsocketDocs

export const run = <A, E>(program: Effect.Effect<A, E>): void => {
  const into = collector()
  const seconds = into?.forSeconds ?? Number(process.env.JETSOCKET_DOCS_RUN_FOR ?? "0")
  const bounded: Effect.Effect<unknown, E> = seconds > 0
    ? Effect.raceFirst(program.pipe(Effect.asVoid), Effect.sleep(Duration.seconds(seconds)))
    : program
  const fiber = Effect.runFork(bounded)
  const exit = Effect.runPromise(Fiber.await(fiber))
  if (into !== undefined) {
    into.started = { exit, interrupt: () => Effect.runPromise(Fiber.interrupt(fiber)) }
    return
  }
  void exit.then((exit) => {
    if (Exit.isFailure(exit)) {
      process.stderr.write(`docs program failed:\n${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(0)
  })
}
