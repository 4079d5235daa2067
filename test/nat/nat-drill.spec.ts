/**
 * NAT drill: the hub, a host and a guest in separate network namespaces, host and guest each
 * behind a real Linux NAT router (iptables MASQUERADE), with coturn as STUN/TURN server next
 * to the hub (topology in ./netns.ts, write-up in docs/reliability.md, "NAT drill").
 *
 * Every process is a real one: the hub is `p2p-llm relay` from source, the host
 * ./host-process.ts (createModelHost with an echo backend), the guest ./guest-process.ts
 * (connectToModel through the share URL), each started with `ip netns exec`.
 *
 * Needs root, `ip netns`, iptables and coturn (`apt-get install coturn iptables iproute2`);
 * skipped, with the reason, elsewhere. About 40 s.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type NatConfig,
  type NsProcess,
  namespaceSupport,
  PUBLIC_IP,
  removeStaleNamespaces,
  Topology,
  type TopologyInit,
} from './netns.ts'

const support = namespaceSupport()
const skipReason = support.ok ? '' : support.reason
if (!support.ok) console.warn(`NAT drill skipped: ${skipReason}`)

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const HUB_PORT = 4001
const TURN_PORT = 3478
/** coturn hands out relay ports from this range; the drill counts packets sent to them. */
const TURN_RELAY_PORTS = '49152:49999'
const TURN_USER = 'drill'
const TURN_PASSWORD = 'drill-secret'
const STUN = `stun:${PUBLIC_IP}:${TURN_PORT}`
// The CLI's `--ice-server` form (see iceServersFrom in src/cli/options.ts).
const TURN = `turn:${TURN_USER}:${TURN_PASSWORD}@${PUBLIC_IP}:${TURN_PORT}`

const cone: NatConfig = { mapping: 'cone' }
const symmetric: NatConfig = { mapping: 'symmetric' }

interface GuestResult {
  kind?: string
  content?: string
  connectMs?: number
  requestMs?: number
  remoteAddr?: string
  error?: string
}

interface DrillResult {
  guest: GuestResult
  /** Kind of the host's connection the request arrived on (the one carrying its stream). */
  servedOver: string[]
  /** What `host.connections()` said about the guest meanwhile. */
  listedAs?: string
  reserveMs: number
  /** UDP packets that reached coturn's relay ports (TURN-relayed traffic). */
  turnRelayedPackets: number
  wallMs: number
}

interface Row {
  scenario: string
  kind: string
  servedOver: string
  listedAs: string
  connectMs: number | string
  requestMs: number | string
  reserveMs: number | string
  turnPackets: number | string
  wallMs: number | string
}

const rows: Row[] = []
let topology: Topology | undefined
let scratch: string | undefined

async function cleanUp(): Promise<void> {
  await topology?.destroy()
  topology = undefined
  if (scratch != null) await rm(scratch, { recursive: true, force: true })
  scratch = undefined
}

function nodeIn(ns: string, script: string[]): NsProcess {
  if (topology == null) throw new Error('no topology')
  return topology.spawn(ns, process.execPath, ['--import', 'tsx', ...script], { cwd: repoRoot })
}

/** Builds the topology, starts coturn, the hub, the host and one guest request; reports. */
async function drill(nat: TopologyInit, iceServer: string[]): Promise<DrillResult> {
  const started = performance.now()
  topology = await Topology.create(nat)
  const { ns } = topology
  scratch = await mkdtemp(join(tmpdir(), 'p2p-llm-nat-drill-'))

  const turn = topology.spawn(ns.pub, 'turnserver', [
    '-n', // no config file: everything is on the command line
    '--listening-ip',
    PUBLIC_IP,
    '--relay-ip',
    PUBLIC_IP,
    '--listening-port',
    String(TURN_PORT),
    '--min-port',
    TURN_RELAY_PORTS.split(':')[0] as string,
    '--max-port',
    TURN_RELAY_PORTS.split(':')[1] as string,
    '--lt-cred-mech',
    '--user',
    `${TURN_USER}:${TURN_PASSWORD}`,
    '--realm',
    'p2p-llm.drill',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--userdb',
    join(scratch, 'turndb'),
    '--pidfile',
    join(scratch, 'turnserver.pid'),
    '--log-file',
    'stdout',
    '--simple-log',
    '--verbose',
  ])
  // Count what reaches coturn's relay ports: only TURN-relayed traffic goes there.
  await topology.exec(ns.pub, 'iptables', ['-A', 'INPUT', '-p', 'udp', '--dport', TURN_RELAY_PORTS])
  // Hub, host and guest start together (loading takes seconds on a busy machine): the host
  // waits for the hub to listen, the guest for the share URL on stdin.
  const hubAddress = `${PUBLIC_IP}:${HUB_PORT}`
  const relay = nodeIn(ns.pub, [
    'src/cli/index.ts',
    'relay',
    '--host',
    PUBLIC_IP,
    '--port',
    String(HUB_PORT),
    '--ephemeral',
  ])
  const host = nodeIn(ns.host, [
    'test/nat/host-process.ts',
    JSON.stringify({ signalling: hubAddress, iceServer }),
  ])
  const prompt = `through two NATs (${iceServer.join(', ')})`
  const guest = nodeIn(ns.guest, [
    'test/nat/guest-process.ts',
    JSON.stringify({ iceServer, prompt }),
  ])

  await turn.waitFor(new RegExp(`UDP listener opened on: *${PUBLIC_IP}:${TURN_PORT}`), 10_000)
  const [, announced] = await relay.waitFor(/--signalling (\S+)/, 40_000)
  expect(announced).toBe(hubAddress)
  const [ready] = await host.waitFor(/\{"event":"ready".*\}/, 40_000)
  const { shareUrl, reserveMs } = JSON.parse(ready) as { shareUrl: string; reserveMs: number }
  expect(shareUrl).toMatch(new RegExp(`@${PUBLIC_IP}:${HUB_PORT}$`))

  await guest.waitFor(/\{"event":"loaded"\}/, 40_000)
  guest.send(`${shareUrl}\n`)
  // The guest gives up by itself after 30 s (connectTimeout); this is the backstop.
  const [result] = await guest.waitFor(/^\{"(?:kind|error)".*\}$/m, 45_000)
  const guestResult = JSON.parse(result) as GuestResult
  if (guestResult.error != null) {
    throw new Error(`the guest failed: ${guestResult.error}\n${guest.tail()}\n${host.tail()}`)
  }
  expect(guestResult.content).toBe(prompt)
  const [requestStart] = await host.waitFor(/\{"event":"request:start".*\}/, 5_000)
  const { servedOver, listedAs } = JSON.parse(requestStart) as {
    servedOver: string[]
    listedAs?: string
  }

  const counters = await topology.exec(ns.pub, 'iptables', ['-L', 'INPUT', '-v', '-n', '-x'])
  const counterLine = counters.split('\n').find((line) => line.includes(`dpts:${TURN_RELAY_PORTS}`))
  const turnRelayedPackets = Number(counterLine?.trim().split(/\s+/)[0] ?? Number.NaN)
  return {
    guest: guestResult,
    servedOver,
    listedAs,
    reserveMs,
    turnRelayedPackets,
    wallMs: Math.round(performance.now() - started),
  }
}

function record(scenario: string, result: DrillResult | undefined): void {
  rows.push({
    scenario,
    kind: result?.guest.kind ?? 'failed',
    servedOver: result?.servedOver.join(', ') ?? '–',
    listedAs: result?.listedAs ?? '–',
    connectMs: result?.guest.connectMs ?? '–',
    requestMs: result?.guest.requestMs ?? '–',
    reserveMs: result?.reserveMs ?? '–',
    turnPackets: result?.turnRelayedPackets ?? '–',
    wallMs: result?.wallMs ?? '–',
  })
}

async function scenario(
  name: string,
  nat: TopologyInit,
  iceServer: string[],
): Promise<DrillResult> {
  let result: DrillResult | undefined
  try {
    result = await drill(nat, iceServer)
    return result
  } finally {
    record(name, result)
  }
}

const drillStarted = performance.now()

describe.skipIf(!support.ok)(
  `NAT drill: hub, host and guest in network namespaces behind NAT routers${support.ok ? '' : ` (skipped: ${skipReason})`}`,
  () => {
    afterEach(cleanUp)
    afterAll(async () => {
      await cleanUp()
      if (rows.length === 0) return
      const header: Row = {
        scenario: 'scenario',
        kind: 'guest: kind',
        servedOver: 'host: served over',
        listedAs: 'host: listed as',
        connectMs: 'connect ms',
        requestMs: 'request ms',
        reserveMs: 'host slot ms',
        turnPackets: 'TURN pkts',
        wallMs: 'wall ms',
      }
      const all = [header, ...rows]
      const keys = Object.keys(header) as Array<keyof Row>
      const widths = keys.map((key) => Math.max(...all.map((row) => String(row[key]).length)))
      const line = (row: Row): string =>
        keys.map((key, i) => String(row[key]).padEnd(widths[i] ?? 0)).join(' | ')
      console.log(
        [
          `NAT drill (${Math.round((performance.now() - drillStarted) / 1000)} s):`,
          line(header),
          widths.map((width) => '-'.repeat(width)).join('-|-'),
          ...rows.map(line),
        ].join('\n'),
      )
    })

    beforeAll(() => {
      // Namespaces (and their processes) of earlier drill runs that were killed half-way.
      const removed = removeStaleNamespaces()
      if (removed.length > 0) console.warn(`removed stale namespaces: ${removed.join(', ')}`)
    })

    it('a. cone NATs on both sides + STUN: WebRTC punches through both', async () => {
      const result = await scenario('a. cone + cone, STUN', { hostNat: cone, guestNat: cone }, [
        STUN,
      ])
      expect(result.guest.kind).toBe('webrtc')
      expect(result.servedOver).toEqual(['webrtc'])
      expect(result.listedAs).toBe('webrtc')
      // Hole punched: nothing went through TURN (no TURN server given).
      expect(result.turnRelayedPackets).toBe(0)
    }, 90_000)

    it("b1. UDP dropped by the guest's router: falls back to the relayed connection", async () => {
      const result = await scenario(
        'b1. cone + cone, guest UDP dropped, STUN',
        { hostNat: cone, guestNat: { mapping: 'cone', blockUdp: true } },
        [STUN],
      )
      expect(result.guest.kind).toBe('relayed')
      expect(result.guest.remoteAddr).toContain('/p2p-circuit/')
      expect(result.servedOver).toEqual(['relayed'])
    }, 90_000)

    it('b2. symmetric NATs on both sides + STUN: falls back to the relayed connection', async () => {
      const result = await scenario(
        'b2. symmetric + symmetric, STUN',
        { hostNat: symmetric, guestNat: symmetric },
        [STUN],
      )
      expect(result.guest.kind).toBe('relayed')
      expect(result.servedOver).toEqual(['relayed'])
    }, 90_000)

    it('c. symmetric NATs on both sides + TURN: WebRTC through the TURN server', async () => {
      const result = await scenario(
        'c. symmetric + symmetric, TURN',
        { hostNat: symmetric, guestNat: symmetric },
        [TURN],
      )
      expect(result.guest.kind).toBe('webrtc')
      expect(result.servedOver).toEqual(['webrtc'])
      expect(result.listedAs).toBe('webrtc')
      // The data went through coturn's relay ports (b2 shows the same NATs without TURN fail).
      expect(result.turnRelayedPackets).toBeGreaterThan(0)
    }, 90_000)
  },
)
