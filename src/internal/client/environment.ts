import type * as Clock from "effect/Clock"
import type * as Runtime from "effect/Runtime"
import type * as Transport from "../../Transport.js"
import type * as Ticker from "../ticker.js"

/**
 * What a client needs from where it was made: its transport, its clock, the
 * runtime its fibers run in (the user's: context, supervisor, logger,
 * tracer), and that runtime's ticker (whose timer fiber runs in it too).
 * Clients made in a row by one fiber share one (as they share the runtime,
 * see internal/sharedRuntime.ts): one field on each instead of four.
 *
 * @internal
 */
export class Environment {
  constructor(
    readonly transport: Transport.Transport,
    readonly clock: Clock.Clock,
    readonly runtime: Runtime.Runtime<never>,
    readonly ticker: Ticker.Ticker
  ) {}
}

const environments = new WeakMap<Runtime.Runtime<never>, Environment>()

/** @internal */
export const environment = (
  transport: Transport.Transport,
  clock: Clock.Clock,
  runtime: Runtime.Runtime<never>,
  ticker: Ticker.Ticker
): Environment => {
  const shared = environments.get(runtime)
  if (
    shared !== undefined && shared.transport === transport && shared.clock === clock && shared.ticker === ticker
  ) return shared
  const made = new Environment(transport, clock, runtime, ticker)
  environments.set(runtime, made)
  return made
}

