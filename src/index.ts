/**
 * JetSocket for Effect: a resilient, Effect-native WebSocket client.
 *
 * The main entry is platform-neutral (no `ws`, no `node:` modules). Pair it
 * with a transport: `jetsocket/node` on Node, or `WebSocketTransport` from
 * `jetsocket/web` in browsers, Deno and Bun.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Backoff from "./Backoff.js"
/** @since 0.1.0 */
export * as ConnectionPool from "./ConnectionPool.js"
/** @since 0.1.0 */
export * as Heartbeat from "./Heartbeat.js"
/** @since 0.1.0 */
export * as JetSocket from "./JetSocket.js"
/** @since 0.1.0 */
export * as JetSocketError from "./JetSocketError.js"
/** @since 0.1.0 */
export * as JetSocketEvent from "./JetSocketEvent.js"
/** @since 0.1.0 */
export * as MessageBuffer from "./MessageBuffer.js"
/** @since 0.1.0 */
export * as Multiplex from "./Multiplex.js"
/** @since 0.1.0 */
export * as Presets from "./Presets.js"
/** @since 0.1.0 */
export * as Transport from "./Transport.js"
