/**
 * @packageDocumentation
 *
 * The signalling hub (a libp2p circuit-relay-v2 node) through which guests reach hosts behind
 * NAT and set up direct WebRTC connections. See docs/networking.md.
 */
export {
  createRelay,
  DEFAULT_RELAY_LISTEN,
  type Relay,
  type RelayInit,
  type RelayTlsOptions,
} from './relay.ts'
export {
  DEFAULT_MAX_RELAYED_BYTES,
  DEFAULT_MAX_RELAYED_DURATION,
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_RESERVATION_TTL,
  type RelayLimits,
  relayService,
} from './relay-service.ts'
