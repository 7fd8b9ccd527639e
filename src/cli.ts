#!/usr/bin/env node
/**
 * The `jetsocket` command (`npx jetsocket <url>`): a resilient wscat with
 * reconnect, heartbeat, headers and re-sent subscriptions. Run
 * `jetsocket --help` for the options.
 *
 * @since 0.1.0
 */
import { main } from "./internal/cli.js"

main(process.argv.slice(2))
