/**
 * How long a new stream may take to send its request frame, in ms. A guest sends it at once;
 * a stream that stays silent longer is a stalled or hostile peer holding a slot.
 */
export const DEFAULT_REQUEST_READ_TIMEOUT = 10_000

/**
 * Longest a request may run from its arrival to its last frame, in ms (queue time included).
 * Long generations on CPUs take minutes; this only stops runaway ones.
 */
export const DEFAULT_REQUEST_TIMEOUT = 10 * 60_000

/** Where the SDK host listens by default: loopback only, TCP and WebSockets, free ports. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

/** Guests served at once: the original app offered 1–10. */
export const DEFAULT_MAX_CONNECTIONS = 10

/** Requests one guest may have in flight (queued or running). */
export const DEFAULT_MAX_REQUESTS_PER_PEER = 4

/**
 * Requests the backend runs at once. llama-server generates one sequence per slot
 * (`--parallel`); match it to use them all. One is right for a single-slot server.
 */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 1

/** Requests waiting for the backend over all guests (beyond: `TOO_MANY_REQUESTS`). */
export const DEFAULT_MAX_QUEUED_REQUESTS = 64

/** Wrong API keys in a row before a peer is disconnected and refused. */
export const DEFAULT_MAX_AUTH_FAILURES = 5

/** How long a peer that used up its API-key attempts is refused, in ms. */
export const DEFAULT_AUTH_BLOCK_DURATION = 60_000

/** Delay before answering a wrong API key, in ms; doubles with each further one. */
export const DEFAULT_AUTH_FAILURE_DELAY = 250

/**
 * How long a guest turned away by `maxConnections` keeps its connection, in ms, so its first
 * request can be answered `TOO_MANY_CONNECTIONS` rather than meet a closed connection.
 */
export const DEFAULT_REFUSED_GRACE_PERIOD = 3_000

/**
 * Incoming `/llama/1.0.0` streams one connection may have open at once. libp2p resets streams
 * beyond it without a word, so it sits well above `maxRequestsPerPeer`, which answers in words.
 */
export const DEFAULT_MAX_INBOUND_STREAMS = 64

/** How long `createModelHost({ signalling })` waits for a slot on the hub, in ms. */
export const DEFAULT_SIGNALLING_TIMEOUT = 20_000
