import type * as Clock from "effect/Clock"
import type * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Transport from "../../Transport.js"
import type * as Ticker from "../ticker.js"

/**
 * What a client needs from where it was made: its transport, its clock and
 * that clock's ticker, the runtime its fibers run in (the user's: context,
 * supervisor, logger, tracer), and the scope they live in (the one the client
 * was made in). Clients made in a row by one fiber in one scope share one (as
 * they share the runtime, see internal/sharedRuntime.ts): one field on each
 * instead of five.
 *
 * @internal
 */
export class Environment {
  constructor(
    readonly transport: Transport.Transport,
    readonly clock: Clock.Clock,
    readonly runtime: Runtime.Runtime<never>,
    readonly ticker: Ticker.Ticker,
    readonly scope: Scope.Scope
  ) {}
}

const environments = new WeakMap<Runtime.Runtime<never>, Environment>()

/** @internal */
export const environment = (
  transport: Transport.Transport,
  clock: Clock.Clock,
  runtime: Runtime.Runtime<never>,
  ticker: Ticker.Ticker,
  scope: Scope.Scope
): Environment => {
  const shared = environments.get(runtime)
  if (
    shared !== undefined && shared.transport === transport && shared.clock === clock && shared.ticker === ticker &&
    shared.scope === scope
  ) return shared
  const made = new Environment(transport, clock, runtime, ticker, scope)
  environments.set(runtime, made)
  return made
}

