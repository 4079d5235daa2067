/** docs/samples/custom-backend.ts runs as users run it, in a process of its own, and prints exactly this. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))

it('docs/samples/custom-backend.ts shares a reversing backend and prints its replies', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'docs/samples/custom-backend.ts'],
    { cwd: root, timeout: 20_000 },
  )
  expect(stdout).toBe(
    [
      'model: reverser-1',
      'complete: well share models peer to peer (6 words)',
      'stream: "three" " two" " one" <stop>',
      'chat: how you are',
      '',
    ].join('\n'),
  )
})
