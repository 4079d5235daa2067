/** Defaults of the control panel. */

/** The panel listens on loopback only: it controls the host and holds the API key. */
export const DEFAULT_PANEL_HOST = '127.0.0.1'

/** Name of the cookie that carries the panel token after the first page load. */
export const TOKEN_COOKIE = 'p2p_llm_panel'

/** Header API calls carry the token in (also accepted: `Authorization: Bearer <token>`). */
export const TOKEN_HEADER = 'x-panel-token'

/** Random bytes in a generated token (base64url): guessing it is out of reach. */
export const TOKEN_BYTES = 32

/** Guests the settings offer without "allow more": the original app's range, 1–10. */
export const STANDARD_MAX_CONNECTIONS = 10

/** Upper bound with "allow more" ticked: libp2p's own connection limit is 300. */
export const EXTENDED_MAX_CONNECTIONS = 250

/** Requests kept in the panel's log (oldest dropped first). */
export const REQUEST_LOG_SIZE = 200

/** How often the backend's health is checked while sharing, in ms. */
export const HEALTH_INTERVAL = 15_000

/** How long a health check may take, in ms. */
export const HEALTH_TIMEOUT = 5_000

/** Changes are pushed to the page at most this often, in ms (bursts coalesce). */
export const PUSH_DELAY = 50

/** A comment line on every open event stream this often, in ms, so proxies keep it open. */
export const SSE_KEEPALIVE = 15_000

/** Largest JSON body the API reads, in bytes. */
export const MAX_BODY_SIZE = 64 * 1024
