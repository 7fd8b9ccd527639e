import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** Histogram bucket bounds, in milliseconds. */
const BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Number.POSITIVE_INFINITY]

/**
 * Heartbeat round trips: the last one, the running average and a
 * cumulative-free histogram (each round trip counted in its own bucket).
 *
 * @internal
 */
export class LatencyRecorder {
  private lastValue: Duration.Duration | undefined
  private totalMillis = 0
  private count = 0
  private readonly buckets = new Array<number>(BOUNDS.length).fill(0)

  record(latency: Duration.Duration): void {
    const millis = Duration.toMillis(latency)
    this.lastValue = latency
    this.totalMillis += millis
    this.count++
    let i = 0
    while (millis > BOUNDS[i]!) i++
    this.buckets[i]!++
  }

  get last(): Option.Option<Duration.Duration> {
    return Option.fromNullable(this.lastValue)
  }

  get average(): Option.Option<Duration.Duration> {
    return this.count === 0 ? Option.none() : Option.some(Duration.millis(this.totalMillis / this.count))
  }

  histogram(): ReadonlyArray<{ readonly le: number; readonly count: number }> {
    return BOUNDS.map((le, i) => ({ le, count: this.buckets[i]! }))
  }
}
