/** docs/samples/proxy.ts runs as users run it, in a process of its own, and prints exactly this. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))

it('docs/samples/proxy.ts talks to an echoing host through the openai client', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'docs/samples/proxy.ts'], {
    cwd: root,
    timeout: 20_000,
  })
  expect(stdout).toBe(
    [
      'models: echo-1',
      'chat: peer to peer models share well (stop, 9 tokens)',
      'stream: "one" " two" " three" <stop>',
      'completion: a b (length)',
      'error: 400 INVALID_REQUEST (messages)',
      '',
    ].join('\n'),
  )
})
