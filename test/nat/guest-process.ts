/**
 * The guest side of the NAT drill, run inside the guest's namespace:
 * `node --import tsx test/nat/guest-process.ts '{"iceServer":[…],"prompt":"…"}'`, then the share
 * URL as one line on stdin (so the drill can start it early: loading takes seconds on a busy
 * machine, and that should not count as connecting).
 *
 * Connects through the share URL, sends one prompt and prints one JSON line:
 * `{ kind, content, connectMs, requestMs, remoteAddr }`, or `{ error, code }` (exit code 1).
 */
import { createInterface } from 'node:readline'
import { iceServersFrom } from '../../src/cli/options.ts'
import { connectToModel } from '../../src/index.ts'

interface GuestProcessArgs {
  /** `--ice-server` values, parsed as the CLI does (`turn:user:pass@host:port`). */
  iceServer: string[]
  prompt: string
}

const args = JSON.parse(process.argv[2] ?? '{}') as GuestProcessArgs
const print = (result: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

print({ event: 'loaded' })
const lines = createInterface({ input: process.stdin })
const url = await new Promise<string>((resolve) => lines.once('line', resolve))
lines.close()

try {
  const started = performance.now()
  const model = await connectToModel(url.trim(), {
    iceServers: iceServersFrom({ iceServer: args.iceServer, stun: false }),
  })
  const connected = performance.now()
  const { content } = await model.complete({ prompt: args.prompt })
  const answered = performance.now()
  print({
    kind: model.connection.kind,
    content,
    connectMs: Math.round(connected - started),
    requestMs: Math.round(answered - connected),
    remoteAddr: model.connection.remoteAddr,
  })
  await model.close()
  process.exit(0)
} catch (err) {
  print({ error: (err as Error).message, code: (err as { code?: string }).code })
  process.exit(1)
}
