/** How long `connectToModel()` may take to reach the host, in ms, unless a `signal` says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000
