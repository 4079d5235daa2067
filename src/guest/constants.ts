/** How long `connectToModel()` may take to reach the host, in ms, unless a `signal` says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000

/** How long a guest tries WebRTC through a hub before settling for the relayed connection, in ms. */
export const DEFAULT_WEBRTC_TIMEOUT = 10_000
