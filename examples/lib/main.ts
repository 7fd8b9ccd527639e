/**
 * Runs an example program: Ctrl-C (SIGINT/SIGTERM) interrupts it so every
 * scope closes (sockets closed with 1000, servers stopped), a failure is
 * printed with its tag, and the process exits with the program's exit code
 * (0 on success, 1 on failure, or the number the program returns).
 */
import { Cause, Effect, Exit, Fiber } from "effect"

export const runMain = <E>(program: Effect.Effect<number | void, E>): void => {
  const fiber = Effect.runFork(program)
  const interrupt = () => {
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  fiber.addObserver((exit) => {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
    if (Exit.isSuccess(exit)) return process.exit(typeof exit.value === "number" ? exit.value : 0)
    if (Cause.isInterruptedOnly(exit.cause)) return process.exit(130)
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some") {
      const error = failure.value as { _tag?: string; message?: string }
      console.error(`error: ${error._tag ?? "Error"}: ${error.message ?? String(error)}`)
    } else {
      console.error(Cause.pretty(exit.cause))
    }
    process.exit(1)
  })
}
