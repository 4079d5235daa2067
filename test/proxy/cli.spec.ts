/** `p2p-llm proxy` as users run it: a process of its own, in front of a host, used by the openai client. */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterEach, expect, it } from 'vitest'
import { createModelHost, type ModelBackend } from '../../src/index.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = ['--import', 'tsx', 'src/cli/index.ts']

/** Answers with the last message (or the prompt) in upper case. */
const shout: ModelBackend = {
  async *generate(request) {
    yield { content: (request.prompt ?? request.messages?.at(-1)?.content ?? '').toUpperCase() }
  },
  info: async () => ({ model: 'shout-1' }),
}

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})

async function startCli(args: string[]): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, [...cli, 'proxy', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, P2P_LLM_API_KEY: '', P2P_LLM_PROXY_API_KEY: '' },
  })
  cleanup.push(async () => {
    if (child.exitCode == null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
  const lines: string[] = []
  const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of reader) {
    lines.push(line)
    if (line.includes('try it:')) break
  }
  return { child, lines }
}

it('serves the shared model to the openai client and stops on SIGTERM', async () => {
  const host = await createModelHost({ backend: shout, apiKey: 'host-secret' })
  cleanup.push(() => host.stop())
  const { child, lines } = await startCli([
    host.shareUrl,
    '--port',
    '0',
    '--api-key',
    'proxy-secret',
    '--host-api-key',
    'host-secret',
    '--no-stun',
  ])
  expect(lines[0]).toBe(`OpenAI-compatible API for ${host.shareUrl}`)
  const baseURL = /base URL: (\S+)/.exec(lines[1] ?? '')?.[1] as string
  expect(baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)

  const openai = new OpenAI({ baseURL, apiKey: 'proxy-secret', maxRetries: 0 })
  expect((await openai.models.list()).data.map((model) => model.id)).toEqual(['shout-1'])
  const reply = await openai.chat.completions.create({
    model: 'shout-1',
    messages: [{ role: 'user', content: 'peer to peer' }],
  })
  expect(reply.choices[0]?.message.content).toBe('PEER TO PEER')
  await expect(
    new OpenAI({ baseURL, apiKey: 'nope', maxRetries: 0 }).models.list(),
  ).rejects.toBeInstanceOf(OpenAI.AuthenticationError)

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
})

it('refuses a malformed share URL with its error code', async () => {
  const run = promisify(execFile)
  const error = await run(process.execPath, [...cli, 'proxy', 'p2p://nobody', '--port', '0'], {
    cwd: root,
    timeout: 20_000,
  }).catch((err: unknown) => err)
  expect(error).toMatchObject({
    code: 1,
    stderr: expect.stringMatching(/^p2p-llm: INVALID_REQUEST: /),
  })
})
