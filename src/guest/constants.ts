/** How long `connectToModel()` may take to reach the host, in ms, unless a `signal` says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000

/**
 * How long a guest tries WebRTC through a hub before settling for the relayed connection, in
 * ms. WebRTC through a hub takes well under a second when it works (0.3–1.5 s through NATs in
 * the NAT drill); waiting longer only delays the fallback.
 */
export const DEFAULT_WEBRTC_TIMEOUT = 6_000

/**
 * A WebRTC attempt still pending after this long (in ms) is given up and the next one starts;
 * the last attempt gets what is left of the WebRTC timeout. A hung attempt never recovers (see
 * `dialWebRTC` in ./connect.ts), and an attempt that works is up in 0.1–1.5 s.
 */
export const WEBRTC_RETRY_AFTER = 2_000

/** Most WebRTC attempts within the WebRTC timeout. */
export const WEBRTC_ATTEMPTS = 3
