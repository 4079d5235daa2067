/** Defaults of the OpenAI-compatible proxy, each with its reason. */

/** Loopback only: anyone who can reach the proxy uses the shared model under the proxy's peer id. */
export const DEFAULT_PROXY_HOST = '127.0.0.1'

/** Any free port (the SDK); the CLI picks a fixed one so apps can be configured once. */
export const DEFAULT_PROXY_PORT = 0

/**
 * Largest request body, in bytes: the host's own `maxFrameSize` (1 MiB), so a body the proxy
 * takes never becomes a frame the host refuses for its size alone.
 */
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024

/**
 * Retries of a request that could not reach the host (`CONNECTION_FAILED`), before anything
 * went to the HTTP client. With the default delays they span about 3.5 s: long enough for a
 * host to come back from a restart, short enough for a client to hear about a host that is down.
 */
export const DEFAULT_MAX_RETRIES = 4

/** First retry delay, in ms; it doubles with each retry (with ±25 % jitter). */
export const DEFAULT_RETRY_DELAY = 250

/** Longest retry delay, in ms. */
export const MAX_RETRY_DELAY = 4_000

/** The API's path prefix: clients take `http://host:port/v1` as their base URL. */
export const API_PREFIX = '/v1'

/** `owned_by` in `/v1/models`. */
export const MODEL_OWNER = 'p2p-llm'
