import type { Libp2pOptions } from 'libp2p'

/** libp2p transport factories, as `createLibp2p({ transports })` takes them. */
export type TransportFactories = NonNullable<Libp2pOptions['transports']>
