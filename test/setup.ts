// Any unhandled rejection or uncaught exception fails the run: the library
// must report every failure in the Effect error channel.
const fail = (kind: string) => (error: unknown) => {
  // eslint-disable-next-line no-console
  console.error(`${kind} during tests:`, error)
  process.exitCode = 1
  throw error
}
process.on("unhandledRejection", fail("unhandledRejection"))
process.on("uncaughtException", fail("uncaughtException"))
