/** `p2p-llm ask`: send one prompt to a shared model and stream the answer to stdout. */
import type { Command } from 'commander'
import { connectToModel } from '../guest/index.ts'
import { collect, iceServersFrom, nonNegativeNumber, positiveInteger } from './options.ts'

interface AskOptions {
  apiKey?: string
  maxTokens?: number
  temperature?: number
  topP?: number
  stream: boolean
  iceServer?: string[]
  stun: boolean
  webrtc: boolean
  verbose?: boolean
}

export function registerAsk(program: Command): void {
  program
    .command('ask')
    .description('ask a shared model one question; the answer streams to stdout')
    .argument(
      '<address>',
      'share URL (p2p://<peerId>@<host>:<port>) or multiaddr ending in /p2p/<peerId>',
    )
    .argument('<prompt>', 'the prompt')
    .option(
      '--api-key <key>',
      "the host's API key (env P2P_LLM_API_KEY)",
      process.env.P2P_LLM_API_KEY,
    )
    .option('-n, --max-tokens <n>', 'most tokens to generate', positiveInteger)
    .option('--temperature <t>', 'sampling temperature', nonNegativeNumber)
    .option('--top-p <p>', 'nucleus sampling', nonNegativeNumber)
    .option('--no-stream', 'wait for the whole answer')
    .option('--ice-server <url>', 'STUN/TURN server for WebRTC (repeatable)', collect)
    .option('--no-stun', 'use no STUN servers (LAN, offline)')
    .option('--no-webrtc', 'stay on the relayed connection through a hub')
    .option('-v, --verbose', 'say how the host was reached (on stderr)')
    .action(async (address: string, prompt: string, options: AskOptions) => {
      // Ctrl-C cancels the generation on the host too.
      const controller = new AbortController()
      process.once('SIGINT', () => controller.abort())
      const { signal } = controller
      const model = await connectToModel(address, {
        apiKey: options.apiKey,
        signal,
        iceServers: iceServersFrom(options),
        webrtc: options.webrtc,
      })
      if (options.verbose === true) {
        console.error(
          `connected to ${model.peerId} (${model.connection.kind}: ${model.connection.remoteAddr})`,
        )
      }
      const request = {
        prompt,
        max_tokens: options.maxTokens,
        temperature: options.temperature,
        top_p: options.topP,
      }
      try {
        if (options.stream) {
          for await (const chunk of model.stream(request, { signal }))
            process.stdout.write(chunk.content)
        } else {
          process.stdout.write((await model.complete(request, { signal })).content)
        }
        process.stdout.write('\n')
      } finally {
        await model.close()
      }
    })
}
