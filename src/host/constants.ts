/**
 * How long a new stream may take to send its request frame, in ms. A guest sends it at once;
 * a stream that stays silent longer is a stalled or hostile peer holding a slot.
 */
export const DEFAULT_REQUEST_READ_TIMEOUT = 10_000

/**
 * Longest a request may run from its first byte to its last frame, in ms. Long generations on
 * CPUs take minutes; this only stops runaway ones.
 */
export const DEFAULT_REQUEST_TIMEOUT = 10 * 60_000

/** Where the SDK host listens by default: loopback only, TCP and WebSockets, free ports. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

/**
 * Incoming streams of `/llama/1.0.0` one connection may have open at once. libp2p resets
 * streams beyond it without a word, so it sits well above any sane guest's concurrency.
 */
export const DEFAULT_MAX_INBOUND_STREAMS = 64
