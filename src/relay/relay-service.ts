/**
 * The signalling hub's libp2p service: circuit relay v2 with limits chosen for sharing models.
 * Used by `createRelay()` and by a host that is its own hub.
 */
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'

/** Hosts that may hold a slot (a reservation) on the hub at once. */
export const DEFAULT_MAX_RESERVATIONS = 128

/**
 * Bytes one relayed connection may carry, both directions together (libp2p counts them
 * against one budget, overheads included). libp2p's own default, 128 KiB, fits WebRTC
 * signalling but would cut off a long generation on a guest that could not get WebRTC.
 */
export const DEFAULT_MAX_RELAYED_BYTES = 64 * 1024 * 1024

/** How long one relayed connection may stay open, in ms (libp2p's default: 2 minutes). */
export const DEFAULT_MAX_RELAYED_DURATION = 30 * 60_000

/** How long a host's slot lasts before it must renew it, in ms (libp2p renews automatically). */
export const DEFAULT_RESERVATION_TTL = 2 * 60 * 60_000

export interface RelayLimits {
  /**
   * Hosts that may hold a slot at once.
   *
   * @default 128
   */
  maxReservations?: number
  /**
   * Bytes one relayed connection may carry (both directions, overheads included); then the
   * relay closes it. `0`: no limit.
   *
   * @default 67_108_864 (64 MiB)
   */
  maxRelayedBytes?: number
  /**
   * How long one relayed connection may stay open, in ms; then the relay closes it. `0`: no limit.
   *
   * @default 1_800_000 (30 minutes)
   */
  maxRelayedDuration?: number
  /**
   * How long a slot lasts before the host renews it, in ms.
   *
   * @default 7_200_000 (2 hours)
   */
  reservationTtl?: number
}

export function relayService(limits: RelayLimits = {}) {
  const bytes = limits.maxRelayedBytes ?? DEFAULT_MAX_RELAYED_BYTES
  const duration = limits.maxRelayedDuration ?? DEFAULT_MAX_RELAYED_DURATION
  const unlimited = bytes === 0 && duration === 0
  return circuitRelayServer({
    reservations: {
      maxReservations: limits.maxReservations ?? DEFAULT_MAX_RESERVATIONS,
      reservationTtl: limits.reservationTtl ?? DEFAULT_RESERVATION_TTL,
      applyDefaultLimit: !unlimited,
      // libp2p treats a limit as "none" only when the default limit is off; the largest
      // safe values stand in for "no limit" on one axis.
      defaultDataLimit: BigInt(bytes === 0 ? Number.MAX_SAFE_INTEGER : bytes),
      defaultDurationLimit: duration === 0 ? 2 ** 31 - 1 : duration,
    },
  })
}
