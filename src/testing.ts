/**
 * The test kit, `jetsocket/testing` (Node-only): servers to test JetSocket
 * clients (and your own application) against, on 127.0.0.1.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as TestServer from "./TestServer.js"

/**
 * @since 0.1.0
 */
export * as RawServer from "./RawServer.js"

/**
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.js"
