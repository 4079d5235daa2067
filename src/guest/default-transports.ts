/**
 * Transports a Node guest dials with by default. Browsers get ./default-transports.browser.ts
 * instead (package.json `browser` field), so `node:net` never reaches a bundle.
 */
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'

export function defaultTransports() {
  return [tcp(), webSockets()]
}
