/** Parsers and shared flags for commander options. */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { InvalidArgumentError } from 'commander'

export function positiveInteger(value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a positive integer')
  return number
}

export function nonNegativeInteger(value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 0)
    throw new InvalidArgumentError('must be an integer ≥ 0')
  return number
}

export function nonNegativeNumber(value: string): number {
  const number = Number(value)
  if (!Number.isFinite(number) || number < 0) throw new InvalidArgumentError('must be a number ≥ 0')
  return number
}

export function port(value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 0 || number > 65535)
    throw new InvalidArgumentError('must be a port, 0–65535')
  return number
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Where the CLI keeps identities: `$XDG_CONFIG_HOME/p2p-llm` or `~/.config/p2p-llm`. */
export function configDir(): string {
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'p2p-llm')
}

/**
 * ICE servers from `--ice-server` and `--no-stun`: undefined means libp2p's defaults (public
 * STUN servers); `--no-stun` means none (LAN, offline).
 */
export function iceServersFrom(options: {
  iceServer?: string[]
  stun: boolean
}): RTCIceServer[] | undefined {
  if (options.iceServer != null && options.iceServer.length > 0) {
    return options.iceServer.map((entry) => {
      // turn:user:pass@host:port — credentials ride in the URL for convenience.
      const match = /^(turns?):([^:@]+):([^@]+)@(.+)$/.exec(entry)
      return match != null
        ? { urls: `${match[1]}:${match[4]}`, username: match[2], credential: match[3] }
        : { urls: entry }
    })
  }
  return options.stun ? undefined : []
}
