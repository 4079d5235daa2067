/**
 * Network namespaces for the NAT drill (./nat-drill.spec.ts): a "public internet" segment and
 * two home networks, each behind its own NAT router.
 *
 * ```
 *   <prefix>-host (192.168.1.2) ── lan │ <prefix>-hnat │ wan (172.16.0.2) ──┐
 *                                                                          br0 <prefix>-pub
 *   <prefix>-guest (192.168.2.2) ─ lan │ <prefix>-gnat │ wan (172.16.0.3) ──┘   172.16.0.1:
 *                                                                 hub (relay), STUN/TURN (coturn)
 * ```
 *
 * Each router masquerades its LAN behind its WAN address and, like a home router, refuses
 * unsolicited packets from the WAN (see {@link NatConfig}). The public namespace has no route
 * to either LAN; its default route leads into a veth whose other end goes nowhere, and the
 * namespaces have no link to the machine's own network at all: nothing the drill sends can
 * leave it. Every address lives inside namespaces created here.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Name prefix of every namespace this module creates; the pid keeps concurrent runs apart. */
const PREFIX = 'p2pnat'

/** Where the hub and coturn listen, in the public namespace. */
export const PUBLIC_IP = '172.16.0.1'
export const HOST_NAT_WAN_IP = '172.16.0.2'
export const GUEST_NAT_WAN_IP = '172.16.0.3'
/** A made-up next hop in the public namespace: its default route, to nowhere. */
const SINK_GATEWAY = '10.255.255.254'
export const HOST_LAN = { subnet: '192.168.1.0/24', router: '192.168.1.1', peer: '192.168.1.2' }
export const GUEST_LAN = { subnet: '192.168.2.0/24', router: '192.168.2.1', peer: '192.168.2.2' }

/**
 * How a NAT router behaves.
 *
 * - `cone`: plain `MASQUERADE`. Linux keeps the source port when it is free, so one internal
 *   UDP socket gets the same public port towards every destination (endpoint-independent
 *   mapping): the port a STUN server reports is the one peers can punch through to.
 * - `symmetric`: `MASQUERADE --random-fully`: a fresh random public port for every destination
 *   (endpoint-dependent mapping), so the STUN-reported port is useless to peers.
 *
 * `blockUdp` drops all UDP crossing the router (a firewall that only lets TCP out).
 */
export interface NatConfig {
  mapping: 'cone' | 'symmetric'
  blockUdp?: boolean
}

export interface TopologyInit {
  hostNat: NatConfig
  guestNat: NatConfig
}

export interface Namespaces {
  pub: string
  hostNat: string
  host: string
  guestNat: string
  guest: string
}

/** Whether this machine lets the drill build namespaces, and why not. */
export function namespaceSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'network namespaces and iptables need root' }
  for (const tool of ['ip', 'iptables', 'turnserver']) {
    if (findExecutable(tool) == null) {
      const pkg = tool === 'ip' ? 'iproute2' : tool === 'turnserver' ? 'coturn' : tool
      return { ok: false, reason: `\`${tool}\` is not installed (apt-get install ${pkg})` }
    }
  }
  const probe = `${PREFIX}-probe-${process.pid}`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe', timeout: 10_000 })
  } catch (err) {
    return { ok: false, reason: `\`ip netns add\` is not permitted here: ${firstLine(err)}` }
  }
  try {
    execFileSync('ip', ['netns', 'exec', probe, 'iptables', '-t', 'nat', '-L', '-n'], {
      stdio: 'pipe',
      timeout: 10_000,
    })
  } catch (err) {
    return { ok: false, reason: `iptables NAT does not work in a namespace: ${firstLine(err)}` }
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe', timeout: 10_000 })
    } catch {}
  }
  return { ok: true }
}

function firstLine(err: unknown): string {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim()
  return (stderr || (err as Error).message).split('\n')[0] ?? ''
}

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin']
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path))
}

// --- cleanup of everything this process created, even when it dies half-way ----------------

const liveNamespaces = new Set<string>()
const liveProcesses = new Set<ChildProcess>()

function cleanUpNow(): void {
  for (const child of liveProcesses) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  for (const ns of liveNamespaces) deleteNamespaceSync(ns)
}

process.once('exit', cleanUpNow)
// Killed by a signal: clean up, then die of that signal as if nothing had been listening.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    cleanUpNow()
    process.kill(process.pid, signal)
  })
}

function deleteNamespaceSync(ns: string): void {
  try {
    // Anything still running in it (ours: nothing else runs in these namespaces).
    const pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: 'pipe', timeout: 5_000 })
      .toString()
      .split(/\s+/)
      .filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
  } catch {}
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe', timeout: 5_000 })
  } catch {}
  liveNamespaces.delete(ns)
}

/** Deletes namespaces left behind by earlier drill runs whose process is gone (killed hard). */
export function removeStaleNamespaces(): string[] {
  let names: string[]
  try {
    names = execFileSync('ip', ['netns', 'list'], { stdio: 'pipe', timeout: 5_000 })
      .toString()
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
  } catch {
    return []
  }
  const removed: string[] = []
  for (const name of names) {
    const match = new RegExp(`^${PREFIX}-(?:probe-)?(\\d+)`).exec(name)
    if (match == null || Number(match[1]) === process.pid || isAlive(Number(match[1]))) continue
    deleteNamespaceSync(name)
    removed.push(name)
  }
  return removed
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// --- the topology ----------------------------------------------------------------------------

let counter = 0

async function sh(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: 15_000 })
    return stdout
  } catch (err) {
    throw new Error(`${command} ${args.join(' ')} failed: ${firstLine(err)}`)
  }
}

export class Topology {
  readonly ns: Namespaces
  private readonly processes = new Set<NsProcess>()

  private constructor(ns: Namespaces) {
    this.ns = ns
  }

  /** Builds the five namespaces, links, addresses, routes and NAT rules (about 0.3 s). */
  static async create(init: TopologyInit): Promise<Topology> {
    counter += 1
    const base = `${PREFIX}-${process.pid}-${counter}`
    const topology = new Topology({
      pub: `${base}-pub`,
      hostNat: `${base}-hnat`,
      host: `${base}-host`,
      guestNat: `${base}-gnat`,
      guest: `${base}-guest`,
    })
    try {
      await topology.build(init)
    } catch (err) {
      await topology.destroy()
      throw err
    }
    return topology
  }

  private async build(init: TopologyInit): Promise<void> {
    const { ns } = this
    for (const name of Object.values(ns)) {
      liveNamespaces.add(name)
      await sh('ip', ['netns', 'add', name])
      await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    }
    // The public segment: a bridge the routers' WAN ports hang off.
    await sh('ip', ['-n', ns.pub, 'link', 'add', 'br0', 'type', 'bridge'])
    await sh('ip', ['-n', ns.pub, 'addr', 'add', `${PUBLIC_IP}/24`, 'dev', 'br0'])
    await sh('ip', ['-n', ns.pub, 'link', 'set', 'br0', 'up'])
    // Packets to anywhere else (the LANs' private addresses in ICE host candidates) vanish down
    // a veth whose other end goes nowhere, as the internet drops them. Without a default route
    // sendto() would fail with ENETUNREACH instead, and coturn closes an allocation on that.
    await sh('ip', ['-n', ns.pub, 'link', 'add', 'sink', 'type', 'veth', 'peer', 'name', 'void'])
    await sh('ip', ['-n', ns.pub, 'link', 'set', 'sink', 'up'])
    await sh('ip', ['-n', ns.pub, 'link', 'set', 'void', 'up'])
    await sh('ip', [
      '-n',
      ns.pub,
      'route',
      'add',
      'default',
      'via',
      SINK_GATEWAY,
      'dev',
      'sink',
      'onlink',
    ])
    await sh('ip', [
      '-n',
      ns.pub,
      'neigh',
      'add',
      SINK_GATEWAY,
      'lladdr',
      '02:00:00:00:00:fe',
      'dev',
      'sink',
      'nud',
      'permanent',
    ])
    const sides = [
      { router: ns.hostNat, peer: ns.host, wan: HOST_NAT_WAN_IP, lan: HOST_LAN, port: 'hnat' },
      { router: ns.guestNat, peer: ns.guest, wan: GUEST_NAT_WAN_IP, lan: GUEST_LAN, port: 'gnat' },
    ]
    for (const side of sides) {
      // WAN: router <-> public bridge. The veth ends are created straight inside the namespaces.
      await sh('ip', [
        'link',
        'add',
        'wan',
        'netns',
        side.router,
        'type',
        'veth',
        'peer',
        'name',
        side.port,
        'netns',
        ns.pub,
      ])
      await sh('ip', ['-n', ns.pub, 'link', 'set', side.port, 'master', 'br0'])
      await sh('ip', ['-n', ns.pub, 'link', 'set', side.port, 'up'])
      await sh('ip', ['-n', side.router, 'addr', 'add', `${side.wan}/24`, 'dev', 'wan'])
      await sh('ip', ['-n', side.router, 'link', 'set', 'wan', 'up'])
      // LAN: router <-> the machine behind it, whose default route is the router.
      await sh('ip', [
        'link',
        'add',
        'lan',
        'netns',
        side.router,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        side.peer,
      ])
      await sh('ip', ['-n', side.router, 'addr', 'add', `${side.lan.router}/24`, 'dev', 'lan'])
      await sh('ip', ['-n', side.router, 'link', 'set', 'lan', 'up'])
      await sh('ip', ['-n', side.peer, 'addr', 'add', `${side.lan.peer}/24`, 'dev', 'eth0'])
      await sh('ip', ['-n', side.peer, 'link', 'set', 'eth0', 'up'])
      await sh('ip', ['-n', side.peer, 'route', 'add', 'default', 'via', side.lan.router])
      // The router's own default route points at the public segment, which routes nowhere.
      await sh('ip', ['-n', side.router, 'route', 'add', 'default', 'via', PUBLIC_IP])
      await sh('ip', [
        'netns',
        'exec',
        side.router,
        'sh',
        '-c',
        'echo 1 > /proc/sys/net/ipv4/ip_forward',
      ])
    }
    await this.configureNat(ns.hostNat, HOST_LAN.subnet, init.hostNat)
    await this.configureNat(ns.guestNat, GUEST_LAN.subnet, init.guestNat)
  }

  private async configureNat(router: string, lan: string, nat: NatConfig): Promise<void> {
    const ipt = (...args: string[]) => sh('ip', ['netns', 'exec', router, 'iptables', ...args])
    await ipt(
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      lan,
      '-o',
      'wan',
      '-j',
      'MASQUERADE',
      ...(nat.mapping === 'symmetric' ? ['--random-fully'] : []),
    )
    if (nat.blockUdp === true) {
      await ipt('-A', 'FORWARD', '-p', 'udp', '-j', 'DROP')
    }
    // A home router's firewall: from the WAN only replies get in. Dropping unsolicited packets
    // in INPUT also keeps them out of the conntrack table: a confirmed entry for a peer's early
    // ICE check would make the router pick another public port for the LAN side's own packets
    // to that peer, and hole punching would fail for a reason real routers do not have.
    await ipt(
      '-A',
      'INPUT',
      '-i',
      'wan',
      '-m',
      'conntrack',
      '--ctstate',
      'ESTABLISHED,RELATED',
      '-j',
      'ACCEPT',
    )
    await ipt('-A', 'INPUT', '-i', 'wan', '-j', 'DROP')
    await ipt(
      '-A',
      'FORWARD',
      '-i',
      'wan',
      '-m',
      'conntrack',
      '--ctstate',
      'ESTABLISHED,RELATED',
      '-j',
      'ACCEPT',
    )
    await ipt('-A', 'FORWARD', '-i', 'wan', '-j', 'DROP')
  }

  /** Runs a command inside a namespace and returns its stdout. */
  exec(ns: string, command: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', ns, command, ...args])
  }

  /** Starts a long-running process inside a namespace (stopped by {@link destroy}). */
  spawn(ns: string, command: string, args: string[], options: { cwd?: string } = {}): NsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: options.cwd,
      env: process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    liveProcesses.add(child)
    const proc = new NsProcess(`${command} in ${ns}`, child)
    this.processes.add(proc)
    void proc.exited.then(() => liveProcesses.delete(child))
    return proc
  }

  /** Stops every process started here, then deletes the namespaces (links and rules go too). */
  async destroy(): Promise<void> {
    await Promise.all([...this.processes].map((proc) => proc.stop()))
    this.processes.clear()
    for (const ns of Object.values(this.ns)) {
      if (liveNamespaces.has(ns)) deleteNamespaceSync(ns)
    }
  }
}

/** A process running in a namespace, with its output kept for assertions and diagnosis. */
export class NsProcess {
  stdout = ''
  stderr = ''
  readonly exited: Promise<number | null>
  /** Set once the process exited and its output is fully read. */
  private closed = false
  private readonly waiters = new Set<() => void>()

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    const notify = (): void => {
      for (const waiter of this.waiters) waiter()
    }
    child.stdout?.setEncoding('utf8').on('data', (data: string) => {
      this.stdout += data
      notify()
    })
    child.stderr?.setEncoding('utf8').on('data', (data: string) => {
      this.stderr += data
      notify()
    })
    this.exited = new Promise((resolve) => {
      child.once('close', (code) => {
        this.closed = true
        notify()
        resolve(code)
      })
      child.once('error', (err) => {
        this.stderr += `\n${err.message}`
        this.closed = true
        notify()
        resolve(null)
      })
    })
  }

  get running(): boolean {
    return !this.closed && this.child.exitCode == null && this.child.signalCode == null
  }

  /** Resolves with the first match of `pattern` in stdout + stderr, or rejects after `timeout` ms. */
  waitFor(pattern: RegExp, timeout: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error, match?: RegExpExecArray): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
        if (match != null) resolve(match)
        else reject(error)
      }
      const check = (): void => {
        const match = pattern.exec(`${this.stdout}\n${this.stderr}`)
        if (match != null) finish(undefined, match)
        else if (this.closed)
          finish(new Error(`${this.label} exited before printing ${pattern}\n${this.tail()}`))
      }
      const timer = setTimeout(
        () =>
          finish(new Error(`${this.label}: no ${pattern} within ${timeout} ms\n${this.tail()}`)),
        timeout,
      )
      this.waiters.add(check)
      check()
    })
  }

  /** Writes to the process's stdin. */
  send(text: string): void {
    this.child.stdin?.write(text)
  }

  tail(chars = 2_000): string {
    return `--- stdout ---\n${this.stdout.slice(-chars)}\n--- stderr ---\n${this.stderr.slice(-chars)}`
  }

  /** SIGTERM, then SIGKILL after `grace` ms. */
  async stop(grace = 3_000): Promise<void> {
    if (this.closed) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), grace)
    await this.exited
    clearTimeout(timer)
  }
}
