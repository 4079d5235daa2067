import { connectToModel, createModelHost } from '../src/index.ts'
const host = await createModelHost({ maxConnections: 1, backend: { async *generate() { yield { content: 'x', stop: true } } } })
host.addEventListener('peer:reject', (e) => console.log('reject', e.detail.reason))
const a = await connectToModel(host.shareUrl)
console.log('a', (await a.complete({ prompt: 'x' })).content)
const b = await connectToModel(host.shareUrl)
try { await b.complete({ prompt: 'x' }) } catch (e: any) { console.log('b err', e.name, e.message, e.cause?.stack) }
await a.close(); await b.close(); await host.stop()
