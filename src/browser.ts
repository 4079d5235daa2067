/**
 * @packageDocumentation
 *
 * The browser build of p2p-llm (package.json `exports` condition `browser`): the guest and the
 * wire codec — everything portable, nothing of the host, backends or relay, no Node built-ins.
 *
 * @example
 * ```ts
 * import { connectToModel } from 'p2p-llm'
 *
 * const model = await connectToModel('p2p://12D3Koo…@hub.example.com:443?secure=1')
 * for await (const chunk of model.stream({ prompt: 'Hi' })) output.textContent += chunk.content
 * ```
 */
export * from './codec/index.ts'
export * from './guest/browser.ts'
